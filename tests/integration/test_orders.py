"""Orders over the API: the in-person gate, refill limits, the medication list, the audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from telehealth.audit import AuditEntry
from telehealth.visits.gate.policy import GatePolicy
from tests.builders import ALPRAZOLAM, SERTRALINE, Cast, login, make_visit


@pytest.fixture
async def visit_id(sessionmaker, cast: Cast, clock) -> int:
    """Alice has checked in to a telehealth visit with Bob, from New York."""
    return await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )


async def order(client: Any, visit_id: int, body: dict[str, Any], **changes: Any) -> Any:
    return await client.post(f"/api/visits/{visit_id}/orders", json={**body, **changes})


async def gate_entries(sessionmaker) -> list[AuditEntry]:
    async with sessionmaker() as session:
        return list(
            (
                await session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.resource_type == "gate_decision")
                    .order_by(AuditEntry.seq)
                )
            )
            .scalars()
            .all()
        )


@pytest.mark.both_databases
async def test_alprazolam_is_refused_in_a_telehealth_visit_without_an_in_person_evaluation(
    client, sessionmaker, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    response = await order(client, visit_id, ALPRAZOLAM)
    assert response.status == 403
    error = (await response.json())["error"]
    assert error["code"] == "in_person_required"
    assert "Alprazolam" in error["message"]
    assert "Schedule IV" in error["message"]
    assert "21 U.S.C. 829(e)" in error["message"]
    assert "in-person visit" in error["message"]
    assert error["schedule"] == "IV"
    assert error["book_url"] == (f"/visits/new?patient_id={cast.alice.id}&modality=in_person")
    listing = await (await client.get(f"/api/visits/{visit_id}/orders")).json()
    assert listing["orders"] == []

    [entry] = await gate_entries(sessionmaker)
    assert entry.action == "access-denied"
    assert entry.outcome == "failure"
    assert entry.patient_id == cast.alice.id
    assert entry.user_id == cast.bob.id
    assert entry.detail["decision"] == "deny"
    assert entry.detail["rule"] == "in_person_required"
    assert entry.detail["policy_version"] == GatePolicy().version
    assert entry.detail["schedule"] == "IV"
    assert entry.detail["jurisdiction"] == "federal"
    assert entry.detail["state"] == "NY"
    assert entry.detail["evidence"] is None
    assert "alprazolam" not in str(entry.detail).lower()


@pytest.mark.both_databases
async def test_alprazolam_is_allowed_after_the_prescriber_attests_an_in_person_evaluation(
    client, sessionmaker, cast: Cast, visit_id: int, clock
):
    await login(client, cast.bob)
    evaluation = await client.post(
        f"/api/patients/{cast.alice.id}/in-person-evaluations",
        json={
            "date": (clock.now - timedelta(days=40)).date().isoformat(),
            "location": "Main Street clinic, Albany NY",
            "attestation": "I examined the patient in person on this date.",
        },
    )
    assert evaluation.status == 201, await evaluation.text()
    evaluation_id = (await evaluation.json())["id"]

    response = await order(client, visit_id, ALPRAZOLAM)
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["status"] == "active"
    assert body["schedule"] == "IV"

    [entry] = await gate_entries(sessionmaker)
    assert entry.action == "create"
    assert entry.detail["decision"] == "allow"
    assert entry.detail["rule"] == "in_person_on_file"
    assert entry.detail["policy_version"] == GatePolicy().version
    assert entry.detail["evidence"]["kind"] == "in_person_evaluation"
    assert entry.detail["evidence"]["id"] == evaluation_id


@pytest.mark.both_databases
async def test_a_finished_in_person_visit_with_this_prescriber_opens_the_gate(
    client, sessionmaker, cast: Cast, visit_id: int, clock
):
    earlier = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=90),
        modality="in_person",
        status="finished",
    )
    await login(client, cast.bob)
    response = await order(client, visit_id, ALPRAZOLAM)
    assert response.status == 201
    [entry] = await gate_entries(sessionmaker)
    assert entry.detail["evidence"]["id"] == earlier


@pytest.mark.both_databases
async def test_alprazolam_is_still_refused_when_only_another_prescriber_saw_the_patient(
    client, new_client, sessionmaker, cast: Cast, visit_id: int, clock
):
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.charlie,
        clock.now - timedelta(days=30),
        modality="in_person",
        status="finished",
    )
    charlie = await new_client()
    await login(charlie, cast.charlie)
    attested = await charlie.post(
        f"/api/patients/{cast.alice.id}/in-person-evaluations",
        json={
            "date": (clock.now - timedelta(days=20)).date().isoformat(),
            "location": "Clinic",
            "attestation": "Seen in person.",
        },
    )
    assert attested.status == 201
    await login(client, cast.bob)
    response = await order(client, visit_id, ALPRAZOLAM)
    assert response.status == 403
    assert "another prescriber" in (await response.json())["error"]["message"]


@pytest.mark.both_databases
async def test_a_booked_in_person_visit_in_the_future_does_not_count(
    client, sessionmaker, cast: Cast, visit_id: int, clock
):
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now + timedelta(days=7),
        modality="in_person",
        status="booked",
    )
    await login(client, cast.bob)
    assert (await order(client, visit_id, ALPRAZOLAM)).status == 403


@pytest.mark.both_databases
async def test_a_controlled_order_during_an_in_person_visit_is_allowed(
    client, sessionmaker, cast: Cast, clock
):
    in_person = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now,
        modality="in_person",
        status="in_progress",
        location_state="NY",
    )
    await login(client, cast.bob)
    response = await order(client, in_person, ALPRAZOLAM)
    assert response.status == 201
    assert (await response.json())["gate"]["rule"] == "in_person_visit"


@pytest.mark.both_databases
async def test_sertraline_is_allowed_and_appears_on_the_medication_list_with_its_history(
    client, new_client, sessionmaker, cast: Cast, visit_id: int, clock
):
    await login(client, cast.bob)
    response = await order(client, visit_id, SERTRALINE)
    assert response.status == 201
    assert (await response.json())["schedule"] is None

    clock.advance(minutes=10)
    changed = await order(client, visit_id, SERTRALINE, dose="100 mg")
    assert changed.status == 201

    meds = await (await client.get(f"/api/patients/{cast.alice.id}/medications")).json()
    [line] = meds["medications"]
    assert line["name"].startswith("Sertraline")
    assert (line["dose"], line["status"]) == ("100 mg", "active")
    assert [(h["kind"], h["dose"], h["by"]) for h in line["history"]] == [
        ("started", "50 mg", "Dr Bob Baker"),
        ("dose_changed", "100 mg", "Dr Bob Baker"),
    ]

    clock.advance(minutes=5)
    stopped = await client.post(f"/api/patients/{cast.alice.id}/medications/{line['id']}/stop")
    assert stopped.status == 200
    again = await client.post(f"/api/patients/{cast.alice.id}/medications/{line['id']}/stop")
    assert (await again.json())["error"]["code"] == "already_stopped"

    patient = await new_client()
    await login(patient, cast.alice)
    mine = await (await patient.get(f"/api/patients/{cast.alice.id}/medications")).json()
    [line] = mine["medications"]
    assert line["status"] == "stopped"
    assert [h["kind"] for h in line["history"]] == ["started", "dose_changed", "stopped"]
    assert datetime.fromisoformat(line["stopped_at"]) == clock.now


@pytest.mark.parametrize(
    ("medication_id", "refills", "status"),
    [
        ("methylphenidate-tablet", 1, 422),  # II: no refills
        ("methylphenidate-tablet", 0, 201),
        ("alprazolam-tablet", 6, 422),  # IV: at most 5
        ("alprazolam-tablet", 5, 201),
        ("buprenorphine-naloxone-sl-film", 6, 422),  # III: at most 5
        ("pregabalin-capsule", 8, 201),  # V: as the prescriber authorises
    ],
)
@pytest.mark.both_databases
async def test_federal_refill_limits_are_enforced(
    client, sessionmaker, cast: Cast, visit_id: int, clock, medication_id, refills, status
):
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=10),
        modality="in_person",
        status="finished",
    )
    await login(client, cast.bob)
    response = await order(
        client, visit_id, ALPRAZOLAM, medication_id=medication_id, refills=refills
    )
    assert response.status == status, await response.text()
    if status == 422:
        error = (await response.json())["error"]
        assert error["code"] == "refills_not_allowed"
        assert error["field"] == "refills"
        assert "Schedule" in error["message"]


async def test_a_drug_not_in_the_catalogue_cannot_be_ordered(client, cast: Cast, visit_id: int):
    await login(client, cast.bob)
    response = await order(client, visit_id, SERTRALINE, medication_id="snake-oil")
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "unknown_medication"
    assert error["field"] == "medication_id"


async def test_an_order_with_missing_fields_says_which_field(client, cast: Cast, visit_id: int):
    await login(client, cast.bob)
    response = await order(client, visit_id, SERTRALINE, dose="  ")
    assert response.status == 422
    assert (await response.json())["error"]["field"] == "dose"
    bad_quantity = await order(client, visit_id, SERTRALINE, quantity="lots")
    assert (await bad_quantity.json())["error"]["field"] == "quantity"


async def test_gabapentin_follows_the_schedule_of_the_state_the_patient_attested(
    client, sessionmaker, cast: Cast, clock
):
    gabapentin = {**SERTRALINE, "medication_id": "gabapentin-capsule", "dose": "300 mg"}
    kentucky = await make_visit(
        sessionmaker, cast.dana, cast.bob, clock.now, status="waiting", location_state="KY"
    )
    ohio = await make_visit(
        sessionmaker, cast.dana, cast.bob, clock.now, status="waiting", location_state="OH"
    )
    not_attested = await make_visit(sessionmaker, cast.dana, cast.bob, clock.now, status="waiting")
    await login(client, cast.bob)
    refused = await order(client, kentucky, gabapentin)
    assert refused.status == 403
    error = (await refused.json())["error"]
    assert error["schedule"] == "V"
    assert error["jurisdiction"] == "KY"
    assert (await order(client, ohio, gabapentin)).status == 201
    # No location attested: Dana's home state (Kentucky) stands in, and the decision says so.
    assert (await order(client, not_attested, gabapentin)).status == 403
    entries = await gate_entries(sessionmaker)
    assert [e.detail["state_source"] for e in entries] == ["attested", "attested", "home_state"]
    assert any("home state" in note for note in entries[-1].detail["notes"])


async def test_the_federal_flexibility_allows_telemedicine_only_until_the_end_of_2026(
    client, new_client, settings, sessionmaker, cast: Cast, clock
):
    settings.federal_flexibility = True
    clock.set(datetime(2026, 12, 31, 17, 0, tzinfo=UTC))
    last_day = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    await login(client, cast.bob)
    allowed = await order(client, last_day, ALPRAZOLAM)
    assert allowed.status == 201
    assert (await allowed.json())["gate"]["rule"] == "federal_flexibility"

    clock.set(datetime(2027, 1, 1, 17, 0, tzinfo=UTC))
    after = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    next_year = await new_client()  # the first browser was signed out by the idle timer
    await login(next_year, cast.bob)
    assert (await order(next_year, after, ALPRAZOLAM)).status == 403


@pytest.mark.parametrize("who", ["alice", "charlie", "sam", "ada"])
async def test_only_the_visits_prescriber_places_or_sees_its_orders(
    client, cast: Cast, visit_id: int, who: str
):
    await login(client, getattr(cast, who))
    placed = await order(client, visit_id, SERTRALINE)
    assert placed.status == 404
    assert (await client.get(f"/api/visits/{visit_id}/orders")).status == 404


async def test_who_may_see_and_change_a_patients_medication_list(
    client, new_client, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    await order(client, visit_id, SERTRALINE)
    meds = await (await client.get(f"/api/patients/{cast.alice.id}/medications")).json()
    med_id = meds["medications"][0]["id"]
    for who in ("charlie", "sam", "ada", "dana"):
        other = await new_client()
        await login(other, getattr(cast, who))
        seen = await other.get(f"/api/patients/{cast.alice.id}/medications")
        assert seen.status == 404, who
        stop = await other.post(f"/api/patients/{cast.alice.id}/medications/{med_id}/stop")
        assert stop.status == 404, who
    patient = await new_client()
    await login(patient, cast.alice)
    assert (await patient.get(f"/api/patients/{cast.alice.id}/medications")).status == 200
    stop = await patient.post(f"/api/patients/{cast.alice.id}/medications/{med_id}/stop")
    assert stop.status == 404
    search = await patient.get("/api/medications?q=sert")
    assert search.status == 403


async def test_the_catalogue_search_finds_medications_for_the_order_form(client, cast: Cast):
    await login(client, cast.bob)
    found = await (await client.get("/api/medications?q=alpraz")).json()
    first = found["medications"][0]
    assert first["id"].startswith("alprazolam")
    assert first["federal_schedule"] == "IV"
    sertraline = await (await client.get("/api/medications?q=Zoloft")).json()
    assert sertraline["medications"][0]["federal_schedule"] is None


async def test_in_person_evaluations_are_validated_and_only_for_the_prescribers_own_patients(
    client, new_client, sessionmaker, cast: Cast, visit_id: int, clock
):
    body = {
        "date": clock.now.date().isoformat(),
        "location": "Clinic",
        "attestation": "Seen in person.",
    }
    await login(client, cast.bob)
    future = await client.post(
        f"/api/patients/{cast.alice.id}/in-person-evaluations",
        json={**body, "date": (clock.now + timedelta(days=3)).date().isoformat()},
    )
    assert future.status == 422
    assert (await future.json())["error"]["field"] == "date"
    missing = await client.post(
        f"/api/patients/{cast.alice.id}/in-person-evaluations", json={**body, "attestation": ""}
    )
    assert (await missing.json())["error"]["field"] == "attestation"
    # Dana is not Bob's patient.
    stranger = await client.post(f"/api/patients/{cast.dana.id}/in-person-evaluations", json=body)
    assert stranger.status == 404
    for who in ("sam", "ada", "alice"):
        other = await new_client()
        await login(other, getattr(cast, who))
        response = await other.post(
            f"/api/patients/{cast.alice.id}/in-person-evaluations", json=body
        )
        assert response.status == 404, who
    created = await client.post(f"/api/patients/{cast.alice.id}/in-person-evaluations", json=body)
    assert created.status == 201
    async with sessionmaker() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.resource_type == "in_person_evaluation")
                )
            )
            .scalars()
            .all()
        )
    assert [(e.action, e.patient_id, e.user_id) for e in entries] == [
        ("create", cast.alice.id, cast.bob.id)
    ]


async def test_orders_wait_until_the_patient_checks_in(client, sessionmaker, cast: Cast, clock):
    booked = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.bob)
    response = await order(client, booked, SERTRALINE)
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "visit_not_checked_in"
