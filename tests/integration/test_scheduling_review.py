"""Review fixes in scheduling: a visit with a note or orders is finished, not called off; ids
no record can have and dates far outside the practice's years are answered, never a 500; the
availability form survives damaged row counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.builders import Cast, alice_in_a_call_with_bob, login, make_visit, open_hours
from tests.integration.test_orders import SERTRALINE
from tests.integration.test_scheduling_pages import form_token, hours_form

# Monday 26 October 2026, 12:00 UTC (08:00 in New York).
MONDAY = datetime(2026, 10, 26, 12, tzinfo=UTC)
TUESDAY_10_NY = datetime(2026, 10, 27, 14, tzinfo=UTC)
HUGE = "99999999999999999999"
JUST_TOO_BIG = 2**31


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    body: dict[str, Any] = (await response.json())["error"]
    return body


async def as_user(new_client: Any, person: Any) -> Any:
    c = await new_client()
    await login(c, person)
    return c


@pytest.fixture
async def sam(client: Any, cast: Cast, clock: Any, sessionmaker: Any) -> Any:
    clock.set(MONDAY)
    await open_hours(sessionmaker, cast.bob)
    await login(client, cast.sam)
    return client


async def checked_in_visit(sessionmaker: Any, cast: Cast, clock: Any) -> int:
    """Alice checked in five minutes ago for a visit that started then."""
    return await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=5),
        status="waiting",
        location_state="NY",
    )


# ---------------------------------------------------------------- calling off a visit


async def test_a_checked_in_visit_with_an_order_cannot_be_cancelled_or_marked_no_show(
    sam, cast, clock, sessionmaker, new_client
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    bob = await as_user(new_client, cast.bob)
    placed = await bob.post(f"/api/visits/{visit_id}/orders", json=SERTRALINE)
    assert placed.status == 201, await placed.text()

    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    error = await error_of(cancelled, 409)
    assert error["code"] == "visit_has_records"
    assert "finish it instead" in error["message"]
    noshow = await bob.post(f"/api/visits/{visit_id}/noshow")
    assert (await error_of(noshow, 409))["code"] == "visit_has_records"

    seen = await (await sam.get(f"/api/visits/{visit_id}")).json()
    assert seen["status"] == "waiting"
    assert seen["can"]["cancel"] is False
    assert seen["can"]["noshow"] is False
    orders = await (await bob.get(f"/api/visits/{visit_id}/orders")).json()
    assert [o["status"] for o in orders["orders"]] == ["active"]


async def test_a_visit_with_a_draft_note_stays_open_so_the_note_can_be_signed(
    sam, cast, clock, sessionmaker, new_client
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    bob = await as_user(new_client, cast.bob)
    saved = await bob.put(
        f"/api/visits/{visit_id}/note",
        json={"subjective": "Sleeping better.", "plan": "Continue.", "version": 0},
    )
    assert saved.status == 200, await saved.text()

    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    assert (await error_of(cancelled, 409))["code"] == "visit_has_records"
    noshow = await sam.post(f"/api/visits/{visit_id}/noshow")
    assert (await error_of(noshow, 409))["code"] == "visit_has_records"

    signed = await bob.post(f"/api/visits/{visit_id}/note/sign", json={"version": 1})
    assert signed.status == 200, await signed.text()


async def test_a_visit_whose_call_has_started_cannot_be_cancelled_or_marked_no_show(
    sam, cast, clock, sessionmaker
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    assert "finish the visit" in (await error_of(cancelled, 409))["message"]
    noshow = await sam.post(f"/api/visits/{visit_id}/noshow")
    assert "finish the visit" in (await error_of(noshow, 409))["message"]


async def test_a_checked_in_visit_with_nothing_written_can_still_be_cancelled(
    sam, cast, clock, sessionmaker
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    seen = await (await sam.get(f"/api/visits/{visit_id}")).json()
    assert seen["can"]["cancel"] is True
    response = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Patient left"})
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"


# ---------------------------------------------------------------- ids no record can have


@pytest.mark.both_databases
async def test_ids_in_the_path_that_no_record_can_have_are_not_found(sam, cast):
    for visit_id in (HUGE, str(JUST_TOO_BIG)):
        assert (await sam.get(f"/api/visits/{visit_id}")).status == 404
        assert (await sam.get(f"/api/visits/{visit_id}/calendar.ics")).status == 404
        for action, body in (
            ("cancel", {"reason": "x"}),
            ("noshow", {}),
            ("reschedule", {"start": TUESDAY_10_NY.isoformat()}),
        ):
            response = await sam.post(f"/api/visits/{visit_id}/{action}", json=body)
            assert (await error_of(response, 404))["code"] == "not_found"
        availability = await sam.get(f"/api/prescribers/{visit_id}/availability")
        assert availability.status == 404
        assert (await sam.get(f"/prescribers/{visit_id}/availability")).status == 404


@pytest.mark.both_databases
async def test_ids_in_bodies_and_queries_that_no_record_can_have_are_unknown(sam, cast):
    for big in (int(HUGE), JUST_TOO_BIG, -1):
        patient = await sam.post(
            "/api/visits",
            json={
                "patient_id": big,
                "prescriber_id": cast.bob.id,
                "start": TUESDAY_10_NY.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert (await error_of(patient, 422))["code"] == "unknown_patient"
        prescriber = await sam.post(
            "/api/visits",
            json={
                "patient_id": cast.alice.id,
                "prescriber_id": big,
                "start": TUESDAY_10_NY.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert (await error_of(prescriber, 422))["code"] == "unknown_prescriber"
        day = {"start": "2026-10-27T04:00:00Z", "end": "2026-10-28T04:00:00Z"}
        slots = await sam.get("/api/slots", params={"prescriber_id": str(big), **day})
        assert (await error_of(slots, 404))["code"] == "not_found"
        with_patient = await sam.get(
            "/api/slots", params={"prescriber_id": cast.bob.id, "patient_id": str(big), **day}
        )
        assert with_patient.status == 200, await with_patient.text()
        assert (await with_patient.json())["slots"]
        for name in ("patient_id", "prescriber_id"):
            listed = await sam.get("/api/visits", params={name: str(big)})
            assert listed.status == 200, await listed.text()
            assert (await listed.json())["visits"] == []
        week = await sam.get("/api/schedule/week", params={"prescriber_id": str(big)})
        assert week.status == 404
        week = await sam.get(
            "/api/schedule/week", params={"prescriber_id": cast.bob.id, "patient_id": str(big)}
        )
        assert week.status == 200, await week.text()


# ---------------------------------------------------------------- dates far out of range


@pytest.mark.both_databases
async def test_dates_outside_the_years_1900_to_2200_are_refused_naming_the_field(sam, cast):
    visit = await sam.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": TUESDAY_10_NY.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert visit.status == 201, await visit.text()
    visit_id = (await visit.json())["id"]
    for start in ("9999-12-31T23:55:00Z", "0001-01-01T00:00:00+05:00", "1899-12-31T12:00:00Z"):
        booked = await sam.post(
            "/api/visits",
            json={
                "patient_id": cast.alice.id,
                "prescriber_id": cast.bob.id,
                "start": start,
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        error = await error_of(booked, 422)
        assert (error["code"], error["field"]) == ("invalid_input", "start")
        assert "1900" in error["message"]
        moved = await sam.post(f"/api/visits/{visit_id}/reschedule", json={"start": start})
        assert (await error_of(moved, 422))["field"] == "start"

    year_one = {"start": "0001-01-01T00:00:00Z", "end": "0001-01-03T00:00:00Z"}
    slots = await sam.get("/api/slots", params={"prescriber_id": cast.bob.id, **year_one})
    assert (await error_of(slots, 422))["field"] == "start"
    late = {"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z"}
    slots = await sam.get("/api/slots", params={"prescriber_id": cast.bob.id, **late})
    assert (await error_of(slots, 422))["field"] == "start"
    listed = await sam.get("/api/visits", params=year_one)
    assert (await error_of(listed, 422))["field"] == "start"
    for week in ("0001-01-01", "9999-12-31"):
        response = await sam.get(
            "/api/schedule/week", params={"prescriber_id": cast.bob.id, "week": week}
        )
        assert (await error_of(response, 422))["field"] == "week"
    exception = await sam.put(
        f"/api/prescribers/{cast.bob.id}/availability",
        json={"weekly": [], "exceptions": [{"date": "9999-12-31", "available": False}]},
    )
    assert (await error_of(exception, 422))["field"] == "exceptions"


# ---------------------------------------------------------------- the availability form


async def test_a_damaged_row_count_in_the_hours_form_is_refused_and_nothing_changes(
    client, cast: Cast, sessionmaker
):
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00", days=(0,))
    await login(client, cast.bob)
    path = f"/prescribers/{cast.bob.id}/availability"
    for damage in ({"w0_count": "abc"}, {"x_count": "3000000"}, {"w3_count": "13"}):
        token = await form_token(client, path)
        response = await client.post(
            path, data=hours_form(token, w1_0_start="13:00", w1_0_end="15:00", **damage)
        )
        assert response.status == 422, damage
        html = await response.text()
        assert "Reload the page" in html
        assert 'value="09:00"' in html  # the saved hours are shown again
    saved = await (await client.get(f"/api/prescribers/{cast.bob.id}/availability")).json()
    assert saved["weekly"] == [{"weekday": 0, "start": "09:00", "end": "12:00"}]


async def test_a_day_with_more_than_twelve_ranges_of_hours_is_refused(client, cast: Cast):
    await login(client, cast.sam)
    ranges = [{"weekday": 0, "start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(6, 19)]
    response = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability", json={"weekly": ranges}
    )
    assert (await error_of(response, 422))["field"] == "weekly"
    fine = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability", json={"weekly": ranges[:12]}
    )
    assert fine.status == 200, await fine.text()
