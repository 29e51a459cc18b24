"""A visit's day over HTTP: check-in with the patient's location, admit, complete, ICE servers,
and the call history, with the call room told about each change after it commits."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from telehealth.audit import AuditEntry
from telehealth.uow import unit_of_work
from telehealth.visits.models import Visit
from tests.builders import Cast, VisitsSocket, login, make_visit, session_token

pytestmark = pytest.mark.timeout(60)


async def load(sessionmaker, visit_id: int) -> Visit:
    async with unit_of_work(sessionmaker) as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        return visit


async def test_the_patient_checks_in_from_a_state_the_prescriber_is_licensed_in(
    client, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=20)
    )
    await login(client, cast.alice)
    response = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "nj"})
    assert response.status == 200
    assert await response.json() == {"status": "waiting"}
    visit = await load(sessionmaker, visit_id)
    assert visit.status.value == "waiting"
    assert visit.location_state == "NJ"
    assert visit.checked_in_at == clock.now
    again = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "NJ"})
    assert await again.json() == {"status": "waiting"}

    async with unit_of_work(sessionmaker) as session:
        details = (
            (
                await session.execute(
                    select(AuditEntry.detail).where(
                        AuditEntry.resource_type == "visit", AuditEntry.resource_id == str(visit_id)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert {"transition": "checked_in", "location_state": "NJ"} in details


async def test_a_join_link_session_checks_in_too(client, sessionmaker, cast: Cast, clock):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    token = await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now)
    client.session.cookie_jar.update_cookies(
        {"th_session": token}, response_url=client.make_url("/")
    )
    response = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"})
    assert response.status == 200, await response.text()


async def test_check_in_from_a_state_without_a_licence_is_refused_with_a_reason(
    client, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    response = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "KY"})
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "not_licensed_in_state"
    assert "not licensed in KY" in error["message"]
    assert (await load(sessionmaker, visit_id)).status.value == "booked"


async def test_a_patient_abroad_is_told_the_visit_cannot_take_place_from_there(
    client, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    page = await client.get(f"/visit/{visit_id}")
    assert 'value="outside_us"' in await page.text()  # the check-in form offers the choice
    response = await client.post(
        f"/api/visits/{visit_id}/check-in", json={"location_state": "outside_us"}
    )
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "outside_united_states"
    assert "reschedule" in error["message"]
    assert (await load(sessionmaker, visit_id)).status.value == "booked"


@pytest.mark.parametrize(
    ("offset", "code"),
    [(timedelta(minutes=45), "check_in_not_open"), (timedelta(hours=-2), "check_in_closed")],
)
async def test_check_in_is_open_from_half_an_hour_before_until_the_end(
    client, sessionmaker, cast: Cast, clock, offset: timedelta, code: str
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + offset)
    await login(client, cast.alice)
    response = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"})
    assert response.status == 409
    assert (await response.json())["error"]["code"] == code


async def test_only_the_patient_checks_in_to_a_video_visit_and_the_desk_to_an_in_person_one(
    new_client, sessionmaker, cast: Cast, clock
):
    video = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    office = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, modality="in_person")
    expected = [
        (cast.bob, video, 403),
        (cast.sam, video, 403),
        (cast.charlie, video, 404),
        (cast.dana, video, 404),
        (cast.alice, office, 403),
        (cast.sam, office, 200),
    ]
    for person, visit_id, status in expected:
        browser = await new_client()
        await login(browser, person)
        response = await browser.post(
            f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"}
        )
        assert response.status == status, (person.username, visit_id)


async def test_a_bad_location_is_refused(client, sessionmaker, cast: Cast, clock):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    for body in ({}, {"location_state": "Narnia"}, {"location_state": 7}):
        response = await client.post(f"/api/visits/{visit_id}/check-in", json=body)
        assert response.status == 422
        assert (await response.json())["error"]["field"] == "location_state"


async def test_the_prescriber_admits_and_completes_over_http_and_the_room_hears_it(
    server, client, new_client, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    alice = VisitsSocket(
        settings.public_url,
        await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now),
    )
    bob = VisitsSocket(
        settings.public_url, await session_token(sessionmaker, cast.bob, now=clock.now)
    )
    try:
        await alice.connect()
        await bob.connect()
        assert (await bob.call("watch_dashboard", {}))["ok"] is True
        await alice.call("join", {"visit_id": visit_id})

        doctor = await new_client()
        await login(doctor, cast.bob)
        early = await doctor.post(f"/api/visits/{visit_id}/admit")
        assert early.status == 409
        assert (await early.json())["error"]["code"] == "not_waiting"

        await login(client, cast.alice)
        await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"})
        (notice,) = await bob.wait_for("waiting_room")
        assert notice["visit_id"] == visit_id and notice["patient_name"] == "Alice Able"
        assert datetime.fromisoformat(notice["since"]) == clock.now

        admitted = await doctor.post(f"/api/visits/{visit_id}/admit")
        assert await admitted.json() == {"status": "waiting"}
        (for_alice,) = await alice.wait_for("admitted")
        assert for_alice["polite"] is True

        clock.advance(minutes=10)
        done = await doctor.post(f"/api/visits/{visit_id}/complete")
        assert done.status == 200
        assert await done.json() == {"status": "finished"}
        assert await alice.wait_for("visit_ended") == [{"visit_id": visit_id}]
        statuses = await bob.wait_for("visit_status", count=2)
        assert statuses[-1]["status"] == "finished"

        history = await (await doctor.get(f"/api/visits/{visit_id}/events")).json()
        kinds = [e["kind"] for e in history["events"]]
        assert kinds == ["joined", "checked_in", "admitted", "finished"]
        assert history["events"][1]["detail"] == {"location_state": "NY"}
    finally:
        await alice.close()
        await bob.close()
    visit = await load(sessionmaker, visit_id)
    assert visit.status.value == "finished"
    assert visit.ended_at == clock.now


async def test_only_the_visits_prescriber_completes_it(new_client, sessionmaker, cast: Cast, clock):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    for person in (cast.alice, cast.charlie, cast.sam):
        browser = await new_client()
        await login(browser, person)
        response = await browser.post(f"/api/visits/{visit_id}/complete")
        assert response.status == 404, person.username
    assert (await load(sessionmaker, visit_id)).status.value == "waiting"


async def test_a_booked_visit_cannot_be_completed(client, sessionmaker, cast: Cast, clock):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.bob)
    response = await client.post(f"/api/visits/{visit_id}/complete")
    assert response.status == 409


async def test_ice_servers_carry_short_lived_turn_credentials(
    client, settings, sessionmaker, cast: Cast, clock
):
    settings.stun_urls = ["stun:stun.example.org:3478"]
    settings.turn_urls = ["turn:turn.example.org:3478?transport=udp"]
    settings.turn_secret = "shared-secret"
    settings.turn_ttl_seconds = 600
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    body = await (await client.get(f"/api/visits/{visit_id}/ice-servers")).json()
    stun, turn = body["iceServers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    expires = clock.now + timedelta(seconds=600)
    assert datetime.fromisoformat(body["expires_at"]) == expires
    assert turn["username"] == f"{int(expires.timestamp())}:{cast.alice.id}"
    expected = base64.b64encode(
        hmac.new(b"shared-secret", turn["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn["credential"] == expected


@pytest.mark.both_databases
async def test_the_visit_is_in_progress_only_once_both_sides_report_media_after_admission(
    server, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    alice = VisitsSocket(
        settings.public_url,
        await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now),
    )
    bob = VisitsSocket(
        settings.public_url, await session_token(sessionmaker, cast.bob, now=clock.now)
    )
    connected = {"visit_id": visit_id, "connected": True}
    try:
        await alice.connect()
        await bob.connect()
        await alice.call("join", {"visit_id": visit_id})
        await bob.call("join", {"visit_id": visit_id})
        # Before admission a media report changes nothing.
        assert await alice.call("media_state", connected) == {"ok": True, "status": "waiting"}
        assert await bob.call("media_state", connected) == {"ok": True, "status": "waiting"}
        await bob.call("admit", {"visit_id": visit_id})
        assert await alice.call("media_state", connected) == {"ok": True, "status": "waiting"}
        await bob.call("media_state", {"visit_id": visit_id, "connected": False})
        clock.advance(minutes=1)
        assert await alice.call("media_state", connected) == {"ok": True, "status": "waiting"}
        assert await bob.call("media_state", connected) == {"ok": True, "status": "in_progress"}
        assert await alice.wait_for("visit_status") == [
            {"visit_id": visit_id, "status": "in_progress"}
        ]
    finally:
        await alice.close()
        await bob.close()
    visit = await load(sessionmaker, visit_id)
    assert visit.started_at == clock.now

    async with unit_of_work(sessionmaker) as session:
        transitions = [
            d.get("transition")
            for d in (
                await session.execute(
                    select(AuditEntry.detail).where(
                        AuditEntry.resource_type == "visit",
                        AuditEntry.resource_id == str(visit_id),
                    )
                )
            ).scalars()
        ]
    assert transitions.count("admitted") == 1
    assert transitions.count("started") == 1


@pytest.mark.parametrize(
    ("offset", "modality", "status"),
    [
        (timedelta(days=1), "telehealth", "booked"),  # not yet: the call window is not open
        (timedelta(minutes=-10), "telehealth", "finished"),
        (timedelta(minutes=-10), "in_person", "waiting"),
    ],
)
async def test_relay_credentials_only_while_the_call_may_run(
    client, sessionmaker, cast: Cast, clock, offset, modality, status
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + offset, modality=modality, status=status
    )
    await login(client, cast.alice)
    response = await client.get(f"/api/visits/{visit_id}/ice-servers")
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
