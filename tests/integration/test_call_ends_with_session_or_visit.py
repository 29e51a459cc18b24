"""A call stops relaying once its session or its visit is over; sockets record the client's
address behind a trusted proxy; the waiting-room notice to the prescriber is audited."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from telehealth import audit
from telehealth.audit import AuditEntry
from telehealth.signaling.rooms import RECHECK_INTERVAL
from telehealth.uow import unit_of_work
from telehealth.visits.models import Visit
from tests.builders import (
    Cast,
    VisitsSocket,
    as_user,
    disconnected,
    make_visit,
    open_hours,
)
from tests.integration.test_signaling_refusals import NEUTRAL

pytestmark = pytest.mark.timeout(60)

OFFER = {"type": "offer", "sdp": "v=0\r\n"}
AFTER_RECHECK = RECHECK_INTERVAL.total_seconds() * 2


async def browser_as(new_client, token: str):
    """An HTTP client carrying the same session cookie as a socket."""
    browser = await new_client()
    browser.session.cookie_jar.update_cookies({"th_session": token})
    return browser


@pytest.fixture
async def admitted_call(server, new_client, sessionmaker, cast: Cast, clock, sockets):
    """Bob and Alice (through her join link) joined, checked in and admitted."""
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10))
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice, visit_id=visit)
    assert (await bob.call("join", {"visit_id": visit}))["ok"]
    assert (await alice.call("join", {"visit_id": visit}))["ok"]
    alices_browser = await browser_as(new_client, alice.token)
    response = await alices_browser.post(
        f"/api/visits/{visit}/check-in", json={"location_state": "NY"}
    )
    assert response.status == 200, await response.text()
    assert (await bob.call("admit", {"visit_id": visit}))["ok"]
    await alice.wait_for("admitted")
    await relays(visit, alice, bob)
    return visit, alice, bob, alices_browser


async def relays(visit: int, sender: VisitsSocket, receiver: VisitsSocket) -> None:
    before = len(receiver.received("signal"))
    ack = await sender.call("signal", {"visit_id": visit, "description": OFFER})
    assert ack == {"ok": True}
    await receiver.wait_for("signal", count=before + 1)


async def test_a_patient_who_signs_out_is_disconnected_at_once(admitted_call):
    _visit, alice, bob, alices_browser = admitted_call
    signals_before = len(bob.received("signal"))

    response = await alices_browser.delete("/api/session")
    assert response.status == 204

    # No relay needed to notice, and no wait for the periodic check: the clock is not moved.
    assert (await alice.wait_for("error"))[-1]["error"]["code"] == "not_signed_in"
    assert await disconnected(alice)
    assert await bob.wait_for("peer_left") == [{"role": "patient"}]
    # Bob hears in order: a signal relayed before Alice left would have come before this.
    assert len(bob.received("signal")) == signals_before


async def test_signing_out_through_the_page_form_ends_the_sockets_of_that_session_only(
    admitted_call, new_client, sessionmaker, cast: Cast, clock, sockets
):
    _visit, alice, bob, _ = admitted_call
    # Bob's dashboard in another browser (its own session) is not signed out with this one.
    elsewhere = await sockets(cast.bob)
    assert (await elsewhere.call("watch_dashboard", {}))["ok"]
    bobs_browser = await browser_as(new_client, bob.token)
    page = await bobs_browser.get("/prescriber")
    assert page.status == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert csrf is not None

    response = await bobs_browser.post(
        "/logout", data={"csrf_token": csrf.group(1)}, allow_redirects=False
    )
    assert response.status == 303, await response.text()

    assert await disconnected(bob)
    assert await alice.wait_for("peer_left") == [{"role": "prescriber"}]
    # The sign-out is done with (Alice was told): Bob's other session still answers.
    assert (await elsewhere.call("watch_dashboard", {}))["ok"]
    assert elsewhere.sio.connected


async def test_a_deactivated_prescriber_is_disconnected_at_once(
    admitted_call, new_client, cast: Cast
):
    _visit, alice, bob, _ = admitted_call
    signals_before = len(alice.received("signal"))
    admin = await as_user(new_client, cast.ada)
    response = await admin.patch(f"/api/users/{cast.bob.id}", json={"active": False})
    assert response.status == 200, await response.text()

    assert (await bob.wait_for("error"))[-1]["error"]["code"] == "not_signed_in"
    assert await disconnected(bob)
    assert await alice.wait_for("peer_left") == [{"role": "prescriber"}]
    # Alice hears in order: a signal relayed before Bob left would have come before this.
    assert len(alice.received("signal")) == signals_before


async def test_a_cancelled_visit_ends_the_call_for_both_participants_at_once(
    admitted_call, new_client, cast: Cast
):
    visit, alice, bob, _ = admitted_call
    signals_before = len(bob.received("signal"))
    scheduler = await as_user(new_client, cast.sam)
    response = await scheduler.post(f"/api/visits/{visit}/cancel", json={"reason": "sick"})
    assert response.status == 200, await response.text()

    assert await alice.wait_for("visit_ended") == [{"visit_id": visit}]
    assert await bob.wait_for("visit_ended") == [{"visit_id": visit}]
    assert await disconnected(alice)
    # Bob's connection left the visit with it: his signals go nowhere.
    refused = await bob.call("signal", {"visit_id": visit, "description": OFFER})
    assert refused["error"]["code"] == "not_joined"
    # Bob hears in order: a signal relayed to him before the refusal would have come first.
    assert len(bob.received("signal")) == signals_before


async def test_a_visit_rescheduled_to_another_day_ends_its_call_at_once(
    server, new_client, sessionmaker, cast: Cast, clock, sockets
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10))
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice, visit_id=visit)  # through her join link
    assert (await bob.call("join", {"visit_id": visit}))["ok"]
    assert (await alice.call("join", {"visit_id": visit}))["ok"]
    await relays(visit, bob, alice)
    scheduler = await as_user(new_client, cast.sam)
    await open_hours(sessionmaker, cast.bob, start="09:00", end="17:00")
    in_two_days = (clock.now + timedelta(days=2)).astimezone(ZoneInfo("America/New_York"))
    later = in_two_days.replace(hour=10, minute=0, second=0).isoformat()
    response = await scheduler.post(f"/api/visits/{visit}/reschedule", json={"start": later})
    assert response.status == 200, await response.text()

    assert await bob.wait_for("visit_ended") == [{"visit_id": visit}]
    assert await alice.wait_for("visit_ended") == [{"visit_id": visit}]
    assert await disconnected(alice)


async def test_a_visit_moved_out_of_its_window_stops_relaying(
    server, sessionmaker, cast: Cast, clock, sockets
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10))
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice)
    assert (await bob.call("join", {"visit_id": visit}))["ok"]
    assert (await alice.call("join", {"visit_id": visit}))["ok"]
    await relays(visit, bob, alice)
    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        moved = await session.get(Visit, visit)
        assert moved is not None
        moved.start += timedelta(days=2)
        moved.end += timedelta(days=2)
    clock.advance(seconds=AFTER_RECHECK)

    assert await bob.call("signal", {"visit_id": visit, "description": OFFER}) == NEUTRAL
    assert await bob.wait_for("visit_ended") == [{"visit_id": visit}]
    assert await disconnected(bob)
    assert len(alice.received("signal")) == 1


async def test_a_live_call_keeps_relaying_across_rechecks(admitted_call, clock):
    visit, alice, bob, _ = admitted_call
    for _ in range(3):
        clock.advance(seconds=AFTER_RECHECK)
        await relays(visit, alice, bob)
        await relays(visit, bob, alice)
    assert alice.sio.connected and bob.sio.connected
    assert alice.received("error") == bob.received("error") == []


async def test_the_waiting_room_notice_to_the_prescriber_is_audited(
    admitted_call, sessionmaker, cast: Cast
):
    visit, *_ = admitted_call
    async with sessionmaker() as session:
        entries = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.resource_type == "waiting_room")
            )
        ).all()
    assert [(e.action, e.patient_id, e.user_id, e.resource_id) for e in entries] == [
        ("read", cast.alice.id, cast.bob.id, str(visit))
    ]


class TestBehindATrustedProxy:
    @pytest.fixture
    def settings(self, settings):
        return settings.model_copy(update={"trust_proxy": True})

    async def test_a_socket_records_the_clients_address_not_the_proxys(
        self, server, sessionmaker, cast: Cast, clock, sockets
    ):
        visit = await make_visit(
            sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10)
        )
        bob = await sockets(cast.bob, headers={"X-Forwarded-For": "198.51.100.9, 203.0.113.7"})
        assert (await bob.call("join", {"visit_id": visit}))["ok"]
        async with sessionmaker() as session:
            addresses = set(
                (
                    await session.scalars(
                        select(AuditEntry.source_address).where(
                            AuditEntry.request_id.startswith("sio:")  # type: ignore[union-attr]
                        )
                    )
                ).all()
            )
        assert addresses == {"203.0.113.7"}
