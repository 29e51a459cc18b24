"""Scheduling through the HTTP API: availability, slots, booking, changes, invites, permissions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
from sqlalchemy import func, select

from telehealth.scheduling.models import TimeClaim
from telehealth.visits.models import Visit, VisitEvent
from tests.builders import MONDAY, Cast, as_user, error_of, make_user, open_hours

# On both databases: slot and overlap queries, the double-booking constraint, time zones in SQL.
pytestmark = pytest.mark.both_databases

# Monday 26 October 2026, 12:00 UTC (08:00 in New York): the week before the fall-back change.
TUESDAY_10_NY = datetime(2026, 10, 27, 14, tzinfo=UTC)  # 10:00 EDT


def booking(cast: Cast, start: datetime, **extra: Any) -> dict[str, Any]:
    body = {
        "patient_id": cast.alice.id,
        "prescriber_id": cast.bob.id,
        "start": start.isoformat(),
        "visit_type": "follow_up",
        "modality": "telehealth",
    }
    body.update(extra)
    return body


async def book(client: Any, cast: Cast, start: datetime, **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/visits", json=booking(cast, start, **extra))
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


# ---------------------------------------------------------------- booking


async def test_a_scheduler_books_a_telehealth_visit_in_a_free_slot(sam, cast, settings):
    body = await book(sam, cast, TUESDAY_10_NY)
    assert body["status"] == "booked"
    assert body["modality"] == "telehealth"
    assert datetime.fromisoformat(body["start"]) == TUESDAY_10_NY
    assert datetime.fromisoformat(body["end"]) == TUESDAY_10_NY + timedelta(minutes=30)
    assert body["join_url"].startswith(settings.base_url + "/join/")
    assert body["display"]["patient_start"] == "Tue 27 Oct, 10:00 AM EDT"


async def test_an_initial_evaluation_takes_an_hour_and_an_in_person_visit_has_no_join_link(
    sam, cast
):
    body = await book(
        sam, cast, TUESDAY_10_NY, visit_type="initial_evaluation", modality="in_person"
    )
    assert datetime.fromisoformat(body["end"]) - TUESDAY_10_NY == timedelta(hours=1)
    assert body["join_url"] is None


async def test_a_booked_slot_is_no_longer_offered_and_booking_it_again_is_refused(sam, cast):
    await book(sam, cast, TUESDAY_10_NY)
    query = {
        "prescriber_id": cast.bob.id,
        "start": "2026-10-27T04:00:00+00:00",
        "end": "2026-10-28T04:00:00+00:00",
        "visit_type": "follow_up",
    }
    slots = (await (await sam.get("/api/slots", params=query)).json())["slots"]
    starts = {datetime.fromisoformat(s["start"]) for s in slots}
    assert TUESDAY_10_NY not in starts
    assert TUESDAY_10_NY + timedelta(minutes=30) in starts
    again = await sam.post(
        "/api/visits",
        json=booking(cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person"),
    )
    assert (await error_of(again, 409))["code"] == "slot_taken"
    overlapping = await sam.post(
        "/api/visits",
        json=booking(
            cast,
            TUESDAY_10_NY + timedelta(minutes=15),
            patient_id=cast.dana.id,
            modality="in_person",
        ),
    )
    assert (await error_of(overlapping, 409))["code"] == "slot_taken"


async def test_a_patient_cannot_be_booked_with_two_prescribers_at_the_same_time(
    sam, cast, sessionmaker
):
    await book(sam, cast, TUESDAY_10_NY)
    response = await sam.post(
        "/api/visits", json=booking(cast, TUESDAY_10_NY, prescriber_id=cast.charlie.id)
    )
    error = await error_of(response, 409)
    assert error["code"] == "slot_taken"
    assert "patient already has a visit" in error["message"]
    async with sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(Visit))).scalar_one()
    assert count == 1


async def test_the_prescribers_buffer_keeps_the_time_after_a_visit_free(sam, cast, sessionmaker):
    await open_hours(sessionmaker, cast.bob, buffer_minutes=15)
    await book(sam, cast, TUESDAY_10_NY)
    too_soon = await sam.post(
        "/api/visits",
        json=booking(
            cast,
            TUESDAY_10_NY + timedelta(minutes=30),
            patient_id=cast.dana.id,
            modality="in_person",
        ),
    )
    assert (await error_of(too_soon, 409))["code"] == "slot_taken"
    await book(
        sam,
        cast,
        TUESDAY_10_NY + timedelta(minutes=45),
        patient_id=cast.dana.id,
        modality="in_person",
    )


async def test_booking_outside_availability_is_refused(sam, cast):
    evening = datetime(2026, 10, 27, 23, tzinfo=UTC)  # 19:00 in New York
    error = await error_of(await sam.post("/api/visits", json=booking(cast, evening)), 422)
    assert error["code"] == "outside_availability"
    last_minutes = datetime(2026, 10, 27, 20, 45, tzinfo=UTC)  # 16:45: would end 17:15
    error = await error_of(await sam.post("/api/visits", json=booking(cast, last_minutes)), 422)
    assert error["code"] == "outside_availability"


async def test_a_telehealth_visit_with_a_prescriber_not_licensed_in_the_patients_state_is_refused(
    sam, cast
):
    # Dana lives in Kentucky; Bob is licensed in New York and New Jersey only.
    response = await sam.post(
        "/api/visits", json=booking(cast, TUESDAY_10_NY, patient_id=cast.dana.id)
    )
    error = await error_of(response, 422)
    assert error["code"] == "not_licensed_in_state"
    assert "KY" in error["message"]
    await book(sam, cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person")


async def test_booking_in_the_past_or_off_the_five_minute_grid_is_refused(sam, cast):
    past = MONDAY - timedelta(hours=1)
    error = await error_of(await sam.post("/api/visits", json=booking(cast, past)), 422)
    assert error["code"] == "start_in_past"
    odd = TUESDAY_10_NY + timedelta(minutes=7)
    error = await error_of(await sam.post("/api/visits", json=booking(cast, odd)), 422)
    assert "5-minute" in error["message"]


async def test_booking_someone_who_is_not_a_patient_or_not_a_prescriber_is_refused_clearly(
    sam, cast
):
    error = await error_of(
        await sam.post("/api/visits", json=booking(cast, TUESDAY_10_NY, patient_id=cast.bob.id)),
        422,
    )
    assert error["code"] == "unknown_patient"
    missing = await sam.post("/api/visits", json=booking(cast, TUESDAY_10_NY, patient_id=99999))
    assert (await error_of(missing, 422)) == error
    error = await error_of(
        await sam.post("/api/visits", json=booking(cast, TUESDAY_10_NY, prescriber_id=cast.sam.id)),
        422,
    )
    assert error["code"] == "unknown_prescriber"


@pytest.mark.postgresql  # the race needs concurrent writers
async def test_fifty_concurrent_bookings_of_one_slot_give_exactly_one_visit(
    sam, cast, new_client, sessionmaker
):
    clients = [sam] + [await as_user(new_client, cast.sam) for _ in range(4)]
    body = booking(cast, TUESDAY_10_NY)

    async def attempt(n: int) -> int:
        response = await clients[n % len(clients)].post("/api/visits", json=body)
        await response.read()
        status: int = response.status
        return status

    statuses = await asyncio.gather(*(attempt(n) for n in range(50)))
    assert sorted(statuses).count(201) == 1
    assert statuses.count(409) == 49
    async with sessionmaker() as session:
        visits = (await session.execute(select(func.count()).select_from(Visit))).scalar_one()
        claims = (await session.execute(select(func.count()).select_from(TimeClaim))).scalar_one()
    assert visits == 1
    assert claims == 12  # six 5-minute cells each for Bob and for Alice


# ---------------------------------------------------------------- time zones and DST


async def test_slots_across_the_fall_change_in_three_time_zones(
    client, cast, clock, sessionmaker, new_client
):
    """Bob works 09:00-12:00 in New York; the patient lives in Los Angeles; Sam sees both."""
    clock.set(MONDAY)
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00")
    west = await make_user(
        sessionmaker, "patient", "wes", state="NY", timezone="America/Los_Angeles"
    )
    sam = await as_user(new_client, cast.sam)
    query = {
        "prescriber_id": cast.bob.id,
        "start": "2026-10-30T00:00:00-07:00",
        "end": "2026-11-04T00:00:00-08:00",
        "visit_type": "initial_evaluation",
    }
    response = await sam.get("/api/slots", params=query)
    assert response.status == 200, await response.text()
    starts = [datetime.fromisoformat(s["start"]) for s in (await response.json())["slots"]]
    utc_nines = {
        s.astimezone(UTC).date().isoformat(): s.astimezone(UTC).hour
        for s in sorted(starts, reverse=True)
    }
    assert utc_nines["2026-10-31"] == 13  # Saturday, EDT
    assert utc_nines["2026-11-02"] == 14  # Monday, EST
    assert len(starts) == len(set(starts))
    first_after = datetime(2026, 11, 2, 14, tzinfo=UTC)
    booked = await book(sam, cast, first_after, patient_id=west.id, visit_type="initial_evaluation")
    assert booked["display"]["patient_start"] == "Mon 2 Nov, 6:00 AM PST"
    assert booked["display"]["prescriber_start"] == "Mon 2 Nov, 9:00 AM EST"
    patient = await as_user(new_client, west)
    mine = await (await patient.get(f"/api/visits/{booked['id']}")).json()
    assert mine["display"]["start"] == "Mon 2 Nov, 6:00 AM PST"
    assert mine["display"]["timezone"] == "America/Los_Angeles"


# ---------------------------------------------------------------- changes


async def test_rescheduling_keeps_the_visit_records_history_and_bumps_the_sequence(
    sam, cast, sessionmaker
):
    visit = await book(sam, cast, TUESDAY_10_NY)
    later = TUESDAY_10_NY + timedelta(hours=2)
    response = await sam.post(
        f"/api/visits/{visit['id']}/reschedule", json={"start": later.isoformat()}
    )
    assert response.status == 200, await response.text()
    moved = await response.json()
    assert moved["id"] == visit["id"]
    assert datetime.fromisoformat(moved["start"]) == later
    assert moved["sequence"] == 1
    assert moved["join_url"] != visit["join_url"]
    detail = await (await sam.get(f"/api/visits/{visit['id']}")).json()
    kinds = [e["kind"] for e in detail["history"]]
    assert kinds == ["booked", "rescheduled"]
    assert datetime.fromisoformat(detail["history"][1]["detail"]["old_start"]) == TUESDAY_10_NY
    # The old time is free again.
    await book(sam, cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person")


async def test_rescheduling_into_a_taken_time_leaves_the_original_booking_intact(
    sam, cast, sessionmaker
):
    first = await book(sam, cast, TUESDAY_10_NY)
    other = TUESDAY_10_NY + timedelta(hours=1)
    await book(sam, cast, other, patient_id=cast.dana.id, modality="in_person")
    response = await sam.post(
        f"/api/visits/{first['id']}/reschedule", json={"start": other.isoformat()}
    )
    assert (await error_of(response, 409))["code"] == "slot_taken"
    unchanged = await (await sam.get(f"/api/visits/{first['id']}")).json()
    assert datetime.fromisoformat(unchanged["start"]) == TUESDAY_10_NY
    assert unchanged["sequence"] == 0
    again = await sam.post(
        "/api/visits",
        json=booking(cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person"),
    )
    assert (await error_of(again, 409))["code"] == "slot_taken"


async def test_moving_a_visit_by_a_few_minutes_overlapping_itself_works(sam, cast):
    visit = await book(sam, cast, TUESDAY_10_NY)
    response = await sam.post(
        f"/api/visits/{visit['id']}/reschedule",
        json={"start": (TUESDAY_10_NY + timedelta(minutes=15)).isoformat()},
    )
    assert response.status == 200, await response.text()


async def test_cancelling_needs_a_reason_releases_the_time_and_is_audited(sam, cast, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    no_reason = await sam.post(f"/api/visits/{visit['id']}/cancel", json={})
    assert (await error_of(no_reason, 422))["field"] == "reason"
    response = await sam.post(
        f"/api/visits/{visit['id']}/cancel", json={"reason": "Patient asked to move to next month"}
    )
    assert response.status == 200
    cancelled = await response.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["join_url"] is None
    await book(sam, cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person")
    twice = await sam.post(f"/api/visits/{visit['id']}/cancel", json={"reason": "again"})
    assert (await error_of(twice, 409))["code"] == "invalid_transition"
    ada = await as_user(new_client, cast.ada)
    entries = (await (await ada.get("/api/audit", params={"patient_id": cast.alice.id})).json())[
        "entries"
    ]
    changes = [(e["action"], e["resource_type"], e["detail"].get("change")) for e in entries]
    assert ("update", "visit", "cancelled") in changes
    assert ("create", "visit", None) in changes
    assert all("Patient asked" not in str(e["detail"]) for e in entries)


async def test_a_no_show_is_marked_after_the_start_and_frees_the_time(sam, cast, clock, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    early = await sam.post(f"/api/visits/{visit['id']}/noshow")
    assert (await error_of(early, 409))["code"] == "invalid_transition"
    clock.set(TUESDAY_10_NY + timedelta(minutes=10))
    bob = await as_user(new_client, cast.bob)
    response = await bob.post(f"/api/visits/{visit['id']}/noshow")
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "noshow"


# ---------------------------------------------------------------- calendar invites


async def ics_of(client: Any, visit_id: int) -> icalendar.Event:
    response = await client.get(f"/api/visits/{visit_id}/calendar.ics")
    assert response.status == 200, await response.text()
    assert response.content_type == "text/calendar"
    cal = icalendar.Calendar.from_ical(await response.read())
    events = list(cal.walk("VEVENT"))
    assert len(events) == 1
    event: icalendar.Event = events[0]
    event["_method"] = str(cal.get("method"))
    return event


async def test_the_invite_has_the_right_time_zone_the_join_link_and_nothing_clinical(
    sam, cast, new_client, sessionmaker
):
    visit = await book(sam, cast, TUESDAY_10_NY)
    alice = await as_user(new_client, cast.alice)
    event = await ics_of(alice, visit["id"])
    start = event.decoded("dtstart")
    assert start == TUESDAY_10_NY
    assert str(start.tzinfo) == "America/New_York" or event["dtstart"].params["TZID"] == (
        "America/New_York"
    )
    assert event.decoded("dtend") == TUESDAY_10_NY + timedelta(minutes=30)
    summary = str(event["summary"])
    assert summary == "Video visit with Dr Bob Baker"
    text = (summary + str(event.get("description", ""))).lower()
    for clinical in ("diagnos", "medication", "psychiatr", "depress", "anxiety", "follow"):
        assert clinical not in text
    assert visit["join_url"] in str(event["description"])
    assert str(event["url"]) == visit["join_url"]
    assert int(event["sequence"]) == 0
    assert event["_method"] == "PUBLISH"


async def test_the_invite_follows_a_reschedule_and_a_cancel(sam, cast, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    later = TUESDAY_10_NY + timedelta(days=1)
    await sam.post(f"/api/visits/{visit['id']}/reschedule", json={"start": later.isoformat()})
    bob = await as_user(new_client, cast.bob)
    event = await ics_of(bob, visit["id"])
    assert int(event["sequence"]) == 1
    assert event.decoded("dtstart") == later
    assert str(event["summary"]) == "Video visit with Alice Able"
    uid = str(event["uid"])
    await sam.post(f"/api/visits/{visit['id']}/cancel", json={"reason": "clinic closed"})
    event = await ics_of(sam, visit["id"])
    assert str(event["uid"]) == uid
    assert int(event["sequence"]) == 2
    assert event["_method"] == "CANCEL"
    assert str(event["status"]) == "CANCELLED"
    assert "join" not in str(event.get("description", "")).lower()


async def test_an_invite_in_the_patients_own_zone(sam, cast, sessionmaker, new_client):
    await book(sam, cast, TUESDAY_10_NY, patient_id=cast.dana.id, modality="in_person")
    dana = await as_user(new_client, cast.dana)
    visits = (await (await dana.get("/api/visits")).json())["visits"]
    event = await ics_of(dana, visits[0]["id"])
    assert event["dtstart"].params["TZID"] == "America/Chicago"
    assert event.decoded("dtstart") == TUESDAY_10_NY


# ---------------------------------------------------------------- permissions


async def test_patients_and_prescribers_cannot_book_move_or_cancel(sam, cast, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    later = (TUESDAY_10_NY + timedelta(hours=2)).isoformat()
    for person in (cast.alice, cast.bob):
        c = await as_user(new_client, person)
        refused = await c.post(
            "/api/visits", json=booking(cast, later and TUESDAY_10_NY + timedelta(hours=3))
        )
        # A prescriber books only patients they treat (Alice has not come to a visit yet).
        assert refused.status == (403 if person is cast.alice else 404)
        moved = await c.post(f"/api/visits/{visit['id']}/reschedule", json={"start": later})
        assert moved.status == 403
        cancelled = await c.post(f"/api/visits/{visit['id']}/cancel", json={"reason": "x"})
        assert cancelled.status == 403
        slots = await c.get(
            "/api/slots",
            params={
                "prescriber_id": cast.bob.id,
                "start": MONDAY.isoformat(),
                "end": (MONDAY + timedelta(days=1)).isoformat(),
            },
        )
        assert slots.status == (403 if person is cast.alice else 200)  # Bob's own calendar
        search = await c.get("/api/patients", params={"q": "alice"})
        assert search.status == 403


async def test_another_prescriber_sees_the_visit_exactly_like_a_missing_one(sam, cast, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    charlie = await as_user(new_client, cast.charlie)
    hidden = await charlie.get(f"/api/visits/{visit['id']}")
    missing = await charlie.get("/api/visits/999999")
    assert hidden.status == missing.status == 404
    assert await hidden.json() == await missing.json()
    for path in ("calendar.ics", "noshow"):
        method = charlie.get if path.endswith("ics") else charlie.post
        assert (await method(f"/api/visits/{visit['id']}/{path}")).status == 404
    assert (await (await charlie.get("/api/visits")).json())["visits"] == []
    dana = await as_user(new_client, cast.dana)
    assert (await dana.get(f"/api/visits/{visit['id']}")).status == 404
    assert (await (await dana.get("/api/visits")).json())["visits"] == []


async def test_each_role_sees_the_visits_it_should(sam, cast, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    await book(
        sam,
        cast,
        TUESDAY_10_NY,
        patient_id=cast.dana.id,
        prescriber_id=cast.charlie.id,
        modality="in_person",
    )
    for person, expected in (
        (cast.alice, 1),
        (cast.bob, 1),
        (cast.charlie, 1),
        (cast.sam, 2),
        (cast.ada, 2),
    ):
        c = await as_user(new_client, person)
        visits = (await (await c.get("/api/visits")).json())["visits"]
        assert len(visits) == expected, person.username
    for person in (cast.alice, cast.bob, cast.sam, cast.ada):
        c = await as_user(new_client, person)
        body = await (await c.get(f"/api/visits/{visit['id']}")).json()
        assert body["status"] == "booked"
        if person in (cast.ada, cast.bob):
            # The link opens a session as the patient: the prescriber joins from the call
            # page, and administrators do not send invitations.
            assert body["join_url"] is None
        else:
            assert body["join_url"] == visit["join_url"]
    alice = await as_user(new_client, cast.alice)
    own = await alice.get("/api/visits", params={"patient_id": cast.dana.id})
    assert (await own.json())["visits"] == []


async def test_availability_is_edited_by_the_prescriber_a_scheduler_or_an_admin_only(
    client, cast, new_client, clock
):
    clock.set(MONDAY)
    weekly = {
        "weekly": [{"weekday": 1, "start": "13:00", "end": "15:00"}],
        "exceptions": [
            {"date": "2026-10-28", "available": False},
            {"date": "2026-10-31", "start": "10:00", "end": "11:00"},
        ],
        "buffer_minutes": 10,
    }
    for person in (cast.bob, cast.sam, cast.ada):
        c = await as_user(new_client, person)
        response = await c.put(f"/api/prescribers/{cast.bob.id}/availability", json=weekly)
        assert response.status == 200, (person.username, await response.text())
        body = await response.json()
        assert body["weekly"] == weekly["weekly"]
        assert body["buffer_minutes"] == 10
        assert body["timezone"] == "America/New_York"
    for person in (cast.charlie, cast.alice):
        c = await as_user(new_client, person)
        response = await c.put(f"/api/prescribers/{cast.bob.id}/availability", json=weekly)
        assert response.status == 403
    sam = await as_user(new_client, cast.sam)
    bad = await sam.put(
        f"/api/prescribers/{cast.bob.id}/availability",
        json={"weekly": [{"weekday": 9, "start": "9", "end": "x"}]},
    )
    assert (await error_of(bad, 422))["field"] == "weekly"
    slots = (
        await (
            await sam.get(
                "/api/slots",
                params={
                    "prescriber_id": cast.bob.id,
                    "start": "2026-10-26T00:00:00Z",
                    "end": "2026-11-02T00:00:00Z",
                    "visit_type": "follow_up",
                },
            )
        ).json()
    )["slots"]
    days = sorted({s["start"][:10] for s in slots})
    assert days == ["2026-10-27", "2026-10-31"]


async def test_a_scheduler_finds_patients_by_name_or_date_of_birth_and_lists_prescribers(
    sam, cast, new_client
):
    found = (await (await sam.get("/api/patients", params={"q": "ali ab"})).json())["patients"]
    assert [p["id"] for p in found] == [cast.alice.id]
    by_dob = await (await sam.get("/api/patients", params={"q": "05/17/1990"})).json()
    assert {p["id"] for p in by_dob["patients"]} == {cast.alice.id, cast.dana.id}
    short = await sam.get("/api/patients", params={"q": "a"})
    assert (await error_of(short, 422))["field"] == "q"
    listed = (await (await sam.get("/api/prescribers")).json())["prescribers"]
    bob = next(p for p in listed if p["id"] == cast.bob.id)
    assert bob["licensed_states"] == ["NJ", "NY"]
    assert bob["timezone"] == "America/New_York"
    assert bob["credential"] == "MD"
    alice = await as_user(new_client, cast.alice)
    assert (await alice.get("/api/prescribers")).status == 403


async def test_booking_and_reading_are_audited_with_the_patient(
    sam, cast, new_client, sessionmaker
):
    visit = await book(sam, cast, TUESDAY_10_NY)
    alice = await as_user(new_client, cast.alice)
    await alice.get(f"/api/visits/{visit['id']}")
    ada = await as_user(new_client, cast.ada)
    entries = (await (await ada.get("/api/audit", params={"patient_id": cast.alice.id})).json())[
        "entries"
    ]
    reads = [e for e in entries if e["action"] == "read" and e["resource_type"] == "visit"]
    assert reads
    assert reads[0]["user_id"] == cast.alice.id
    async with sessionmaker() as session:
        events = (await session.execute(select(VisitEvent.kind))).scalars().all()
    assert list(events) == ["booked"]


async def test_each_reader_is_told_which_changes_they_may_make(sam, cast, clock, new_client):
    visit = await book(sam, cast, TUESDAY_10_NY)
    assert visit["can"] == {
        "reschedule": True,
        "cancel": True,
        "noshow": False,
        "invite": True,
        "join": False,  # the front desk sends the link; it does not join the call
        "calendar": True,
    }
    alice = await as_user(new_client, cast.alice)
    mine = await (await alice.get(f"/api/visits/{visit['id']}")).json()
    assert mine["can"] == {
        "reschedule": False,
        "cancel": False,
        "noshow": False,
        "invite": False,
        "join": True,
        "calendar": True,
    }
    clock.set(TUESDAY_10_NY + timedelta(minutes=5))
    bob = await as_user(new_client, cast.bob)
    his = await (await bob.get(f"/api/visits/{visit['id']}")).json()
    assert his["can"] == {
        "reschedule": False,
        "cancel": False,
        "noshow": True,
        "invite": False,
        "join": True,
        "calendar": True,
    }


async def test_the_week_view_labels_slots_in_the_prescribers_zone_and_the_patients(
    sam, cast, sessionmaker, new_client
):
    west = await make_user(
        sessionmaker, "patient", "wes", state="NY", timezone="America/Los_Angeles"
    )
    await book(sam, cast, TUESDAY_10_NY)
    params = {"prescriber_id": cast.bob.id, "week": "2026-10-28", "patient_id": west.id}
    response = await sam.get("/api/schedule/week", params=params)
    assert response.status == 200, await response.text()
    week = await response.json()
    assert week["week_start"] == "2026-10-26"
    assert [d["date"] for d in week["days"]][-1] == "2026-11-01"
    tuesday = week["days"][1]
    assert tuesday["visits"][0]["time"] == "10:00 AM EDT"
    first = tuesday["slots"][0]
    assert first["time"] == "9:00 AM EDT"
    assert first["patient_label"] == "Tue 27 Oct, 6:00 AM PDT"
    assert week["days"][6]["slots"][0]["time"] == "9:00 AM EST"
    alice = await as_user(new_client, cast.alice)
    assert (await alice.get("/api/schedule/week", params=params)).status == 403
    # Bob's own week, but around a patient he does not treat: as if there were no such one.
    bob = await as_user(new_client, cast.bob)
    assert (await bob.get("/api/schedule/week", params=params)).status == 404


async def test_slots_around_a_patients_own_visits_are_an_audited_read_of_their_schedule(
    sam, cast, new_client
):
    query = {
        "prescriber_id": cast.bob.id,
        "start": "2026-10-27T04:00:00+00:00",
        "end": "2026-10-28T04:00:00+00:00",
        "patient_id": cast.alice.id,
    }
    assert (await sam.get("/api/slots", params=query)).status == 200
    ada = await as_user(new_client, cast.ada)
    entries = (await (await ada.get(f"/api/audit?patient_id={cast.alice.id}")).json())["entries"]
    assert [e["action"] for e in entries if e["resource_type"] == "patient_schedule"] == ["read"]
