"""Visit paths (API.md version 2): the after-visit summary written for the patient, a join
link opened after the visit, and the invitation sent again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from telehealth.notify.models import EmailKind, VisitEmail
from tests.builders import (
    SERTRALINE,
    Cast,
    book_telehealth,
    login,
    make_visit,
    open_hours,
    session_token,
)

MONDAY = datetime(2026, 10, 26, 12, tzinfo=UTC)
START = datetime(2026, 10, 27, 14, tzinfo=UTC)  # Tuesday 10:00 in New York
DOB = "1990-05-17"
PLAN = "Raise sertraline to 100 mg. Stop the hydroxyzine. Walk daily."
HYDROXYZINE = {
    **SERTRALINE,
    "medication_id": "hydroxyzine-hydrochloride-tablet",
    "dose": "25 mg",
    "frequency": "at bedtime as needed",
    "instructions": "",
}


@pytest.fixture
async def visit(client: Any, cast: Cast, clock: Any, sessionmaker: Any) -> dict[str, Any]:
    clock.set(MONDAY)
    return await book_telehealth(client, sessionmaker, cast, START)


async def emails(sessionmaker: Any, visit_id: int) -> list[EmailKind]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(VisitEmail).where(VisitEmail.visit_id == visit_id).order_by(VisitEmail.id)
        )
        return [row.kind for row in rows.scalars().all()]


async def a_visit_that_changed_medications(
    new_client: Any, sessionmaker: Any, cast: Cast, clock: Any
) -> tuple[Any, int]:
    """An earlier visit started sertraline 50 mg and hydroxyzine; this one raises sertraline
    and stops hydroxyzine, then ends (note not signed yet). Returns Bob's client and the id."""
    bob = await new_client()
    await login(bob, cast.bob)
    earlier = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=30),
        status="in_progress",
        location_state="NY",
    )
    for body in (SERTRALINE, HYDROXYZINE):
        assert (await bob.post(f"/api/visits/{earlier}/orders", json=body)).status == 201
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="in_progress", location_state="NY"
    )
    raised = {**SERTRALINE, "dose": "100 mg", "instructions": "Take in the morning."}
    assert (await bob.post(f"/api/visits/{visit_id}/orders", json=raised)).status == 201
    meds = await (await bob.get(f"/api/patients/{cast.alice.id}/medications")).json()
    (hydroxyzine,) = [m for m in meds["medications"] if m["name"].startswith("Hydroxyzine")]
    stop = await bob.post(f"/api/patients/{cast.alice.id}/medications/{hydroxyzine['id']}/stop")
    assert stop.status == 200, await stop.text()
    note = {"plan": PLAN, "version": 0}
    assert (await bob.put(f"/api/visits/{visit_id}/note", json=note)).status == 200
    assert (await bob.post(f"/api/visits/{visit_id}/complete")).status == 200
    return bob, visit_id


async def test_the_summary_tells_the_patient_what_changed_and_what_comes_next(
    new_client, sessionmaker, cast: Cast, clock
):
    bob, visit_id = await a_visit_that_changed_medications(new_client, sessionmaker, cast, clock)
    next_start = clock.now + timedelta(days=28)
    await make_visit(sessionmaker, cast.alice, cast.charlie, next_start)
    alice = await new_client()
    await login(alice, cast.alice)
    before = await alice.get(f"/api/visits/{visit_id}/summary")
    assert before.status == 404
    assert EmailKind.summary not in await emails(sessionmaker, visit_id)

    assert (await bob.post(f"/api/visits/{visit_id}/note/sign")).status == 200
    assert await emails(sessionmaker, visit_id) == [EmailKind.summary]
    response = await alice.get(f"/api/visits/{visit_id}/summary")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["visit_id"] == visit_id
    assert body["prescriber"] == "Dr Bob Baker"
    assert body["instructions"] == PLAN
    assert [(m["name"].split()[0], m["dose"], m["change"]) for m in body["medications"]] == [
        ("Sertraline", "100 mg", "changed"),
        ("Hydroxyzine", "25 mg", "stopped"),
    ]
    assert body["medications"][0]["frequency"] == "once daily"
    assert body["medications"][0]["instructions"] == "Take in the morning."
    assert datetime.fromisoformat(body["next_visit"]["start"]) == next_start
    assert body["next_visit"]["prescriber"] == "Dr Charlie Chu"
    # The prescriber sees what the patient sees.
    assert (await (await bob.get(f"/api/visits/{visit_id}/summary")).json()) == body


@pytest.mark.parametrize("who", ["charlie", "sam", "ada", "dana"])
async def test_nobody_else_reads_a_summary(new_client, sessionmaker, cast: Cast, clock, who):
    bob, visit_id = await a_visit_that_changed_medications(new_client, sessionmaker, cast, clock)
    await bob.post(f"/api/visits/{visit_id}/note/sign")
    other = await new_client()
    await login(other, getattr(cast, who))
    response = await other.get(f"/api/visits/{visit_id}/summary")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    # Nor does a join-link session of another of Alice's visits.
    elsewhere = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=2))
    linked = await new_client()
    token = await session_token(sessionmaker, cast.alice, visit_id=elsewhere)
    linked.session.cookie_jar.update_cookies({"th_session": token})
    assert (await linked.get(f"/api/visits/{visit_id}/summary")).status == 404


async def test_the_link_of_a_finished_visit_opens_a_session_that_reads_its_summary(
    visit, client, new_client, cast: Cast, clock
):
    clock.set(START)
    patient = await new_client()
    joined = await patient.post("/api/join", json={"token": visit["token"], "date_of_birth": DOB})
    assert joined.status == 200
    bob = await new_client()
    await login(bob, cast.bob)
    checkin = await patient.post(
        f"/api/visits/{visit['id']}/check-in", json={"location_state": "NY"}
    )
    assert checkin.status == 200, await checkin.text()
    await bob.put(f"/api/visits/{visit['id']}/note", json={"plan": PLAN, "version": 0})
    assert (await bob.post(f"/api/visits/{visit['id']}/complete")).status == 200

    clock.set(START + timedelta(days=3))
    later = await new_client()
    wrong = await later.post(
        "/api/join", json={"token": visit["token"], "date_of_birth": "2000-01-01"}
    )
    assert wrong.status == 404
    response = await later.post("/api/join", json={"token": visit["token"], "date_of_birth": DOB})
    assert response.status == 200, await response.text()
    assert await response.json() == {
        "visit_id": visit["id"],
        "status": "finished",
        "next": f"/visit/{visit['id']}",
        "user": {"id": cast.alice.id, "username": "alice", "role": "patient"},
    }
    assert (await later.get(f"/api/visits/{visit['id']}/summary")).status == 404  # not signed
    await login(bob, cast.bob)  # three days on: a new sign-in
    assert (await bob.post(f"/api/visits/{visit['id']}/note/sign")).status == 200
    summary = await later.get(f"/api/visits/{visit['id']}/summary")
    assert summary.status == 200
    assert (await summary.json())["instructions"] == PLAN
    page = await later.get(f"/visit/{visit['id']}")
    assert f'href="/visits/{visit["id"]}/summary"' in await page.text()


async def test_a_scheduler_sends_the_invitation_again(
    visit, client, new_client, cast, sessionmaker
):
    shown = await (await client.get(f"/api/visits/{visit['id']}")).json()  # client is Sam
    assert shown["can"]["invite"] is True
    response = await client.post(f"/api/visits/{visit['id']}/invite")
    assert response.status == 202, await response.text()
    assert (await emails(sessionmaker, visit["id"]))[-1] is EmailKind.invitation
    for who in ("alice", "bob", "charlie"):
        other = await new_client()
        await login(other, getattr(cast, who))
        refused = await other.post(f"/api/visits/{visit['id']}/invite")
        assert refused.status == 404
    await client.post(f"/api/visits/{visit['id']}/cancel", json={"reason": "sick"})
    shown = await (await client.get(f"/api/visits/{visit['id']}")).json()
    assert shown["can"]["invite"] is False
    cancelled = await client.post(f"/api/visits/{visit['id']}/invite")
    assert cancelled.status == 409
    assert (await cancelled.json())["error"]["code"] == "visit_not_upcoming"


async def test_the_scheduler_and_the_patient_see_the_current_join_link(
    visit, client, new_client, cast
):
    assert (await (await client.get(f"/api/visits/{visit['id']}")).json())["join_url"] == visit[
        "join_url"
    ]
    alice = await new_client()
    await login(alice, cast.alice)
    body = await (await alice.get(f"/api/visits/{visit['id']}")).json()
    assert body["join_url"] == visit["join_url"]


async def prescriber_treating_alice(new_client, sessionmaker, cast: Cast, clock) -> Any:
    await open_hours(sessionmaker, cast.bob)
    await open_hours(sessionmaker, cast.charlie)
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=7),
        status="finished",
        location_state="NY",
    )
    bob = await new_client()
    await login(bob, cast.bob)
    return bob


def booking(patient: int, prescriber: int, start: datetime, modality: str) -> dict[str, Any]:
    return {
        "patient_id": patient,
        "prescriber_id": prescriber,
        "start": start.isoformat(),
        "visit_type": "follow_up",
        "modality": modality,
    }


async def test_a_prescriber_books_a_patient_they_treat_on_their_own_calendar(
    new_client, sessionmaker, cast: Cast, clock
):
    clock.set(MONDAY)
    bob = await prescriber_treating_alice(new_client, sessionmaker, cast, clock)
    week = await bob.get(
        "/api/schedule/week", params={"prescriber_id": cast.bob.id, "patient_id": cast.alice.id}
    )
    assert week.status == 200, await week.text()
    free = [s for d in (await week.json())["days"] for s in d["slots"]]
    start = datetime.fromisoformat(free[0]["start"])
    for modality in ("in_person", "telehealth"):
        response = await bob.post(
            "/api/visits", json=booking(cast.alice.id, cast.bob.id, start, modality)
        )
        assert response.status == 201, await response.text()
        start += timedelta(hours=2)
    page = await bob.get(f"/visits/new?patient_id={cast.alice.id}&modality=in_person")
    assert page.status == 200
    assert "Book a visit with Alice Able" in await page.text()


async def test_a_prescriber_cannot_book_others_calendars_or_patients_they_do_not_treat(
    new_client, sessionmaker, cast: Cast, clock
):
    clock.set(MONDAY)
    bob = await prescriber_treating_alice(new_client, sessionmaker, cast, clock)
    other_calendar = await bob.post(
        "/api/visits", json=booking(cast.alice.id, cast.charlie.id, START, "in_person")
    )
    assert other_calendar.status == 403
    assert (await other_calendar.json())["error"]["code"] == "forbidden"
    week = await bob.get("/api/schedule/week", params={"prescriber_id": cast.charlie.id})
    assert week.status == 403
    stranger = await bob.post(
        "/api/visits", json=booking(cast.dana.id, cast.bob.id, START, "in_person")
    )
    assert stranger.status == 404
    assert (await stranger.json())["error"]["code"] == "not_found"
    assert (await bob.get(f"/visits/new?patient_id={cast.dana.id}")).status == 404
    for who in ("charlie", "sam", "alice"):
        other = await new_client()
        await login(other, getattr(cast, who))
        assert (await other.get(f"/visits/new?patient_id={cast.alice.id}")).status in (403, 404)
    alice = await new_client()
    await login(alice, cast.alice)
    own = await alice.post(
        "/api/visits", json=booking(cast.alice.id, cast.bob.id, START, "in_person")
    )
    assert own.status == 403


async def test_the_prescriber_lists_past_visits_unsigned_first_and_nobody_else_sees_them(
    new_client, sessionmaker, cast: Cast, clock
):
    old_signed = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now - timedelta(days=9), status="finished"
    )
    recent_unsigned = await make_visit(
        sessionmaker, cast.dana, cast.bob, clock.now - timedelta(days=2), status="finished"
    )
    older_unsigned = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now - timedelta(days=5), status="finished"
    )
    await make_visit(
        sessionmaker, cast.alice, cast.charlie, clock.now - timedelta(days=1), status="finished"
    )
    await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=1))
    bob = await new_client()
    await login(bob, cast.bob)
    await bob.put(f"/api/visits/{old_signed}/note", json={"plan": "Fine.", "version": 0})
    assert (await bob.post(f"/api/visits/{old_signed}/note/sign")).status == 200
    page = await bob.get("/prescriber/visits")
    assert page.status == 200
    html = await page.text()
    order = [
        html.index(f"/visits/{v}/record") for v in (recent_unsigned, older_unsigned, old_signed)
    ]
    assert order == sorted(order)
    assert html.count("/record") == 3  # not Charlie's visit, not the upcoming one
    assert "Add an addendum" in html
    for who in ("alice", "sam", "ada"):
        other = await new_client()
        await login(other, getattr(cast, who))
        assert (await other.get("/prescriber/visits")).status == 403
    charlie = await new_client()
    await login(charlie, cast.charlie)
    assert (
        f"/visits/{old_signed}/record" not in await (await charlie.get("/prescriber/visits")).text()
    )


async def test_staff_open_one_patient_by_id_for_a_deep_link(client, new_client, cast: Cast):
    await login(client, cast.sam)
    response = await client.get(f"/api/patients/{cast.alice.id}")
    assert response.status == 200
    assert await response.json() == {
        "id": cast.alice.id,
        "full_name": "Alice Able",
        "date_of_birth": DOB,
        "state": "NY",
        "timezone": "America/New_York",
    }
    for missing in (cast.bob.id, 999999, 2**40):
        assert (await client.get(f"/api/patients/{missing}")).status == 404
    bob = await new_client()
    await login(bob, cast.bob)
    assert (await bob.get(f"/api/patients/{cast.alice.id}")).status == 403


async def test_the_week_says_past_days_gives_lengths_and_hides_cancelled_visits_unless_asked(
    client, cast: Cast, clock, sessionmaker
):
    clock.set(datetime(2026, 10, 28, 12, tzinfo=UTC))  # Wednesday 08:00 in New York
    thursday_10 = datetime(2026, 10, 29, 14, tzinfo=UTC)
    await make_visit(sessionmaker, cast.alice, cast.bob, thursday_10, minutes=60)
    await make_visit(
        sessionmaker, cast.dana, cast.bob, thursday_10 + timedelta(hours=3), status="cancelled"
    )
    await login(client, cast.sam)
    params = {"prescriber_id": cast.bob.id}
    week = await (await client.get("/api/schedule/week", params=params)).json()
    assert [d["past"] for d in week["days"]] == [True, True] + [False] * 5
    (visit,) = week["days"][3]["visits"]
    assert visit["minutes"] == 60
    shown = await (
        await client.get("/api/schedule/week", params={**params, "include_cancelled": "1"})
    ).json()
    assert [v["status"] for v in shown["days"][3]["visits"]] == ["booked", "cancelled"]
