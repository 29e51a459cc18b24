"""Two real aiortc peers (tests/peers.py) hold a video visit through the real signaling
server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestServer

from telehealth.app import create_app
from tests.builders import Cast
from tests.peers import (
    check_in_and_admit,
    end_and_tell,
    see_each_other,
    start_call,
    visit_row,
    wait_for_status,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(90)


async def test_patient_and_prescriber_see_each_other_and_the_visit_is_finished(
    server, client, settings, sessionmaker, cast: Cast, clock
):
    visit_id, alice, bob = await start_call(settings, sessionmaker, cast, clock)
    try:
        await check_in_and_admit(client, cast, visit_id, bob)
        await see_each_other(alice, bob)
        assert alice.frames >= 5 and bob.frames >= 5
        await wait_for_status(sessionmaker, visit_id, "in_progress")

        for _ in range(2):
            # A quiet call: the clients' periodic media reports keep their sessions alive.
            clock.advance(minutes=10)
            for peer in (alice, bob):
                ack = await peer.sock.call("media_state", {"visit_id": visit_id, "connected": True})
                assert ack == {"ok": True, "status": "in_progress"}
        await end_and_tell(bob, alice, visit_id)
        assert alice.sock.received("visit_ended") == [{"visit_id": visit_id}]
    finally:
        await alice.close()
        await bob.close()

    visit, events = await visit_row(sessionmaker, visit_id)
    assert visit.status.value == "finished"
    assert visit.started_at is not None and visit.ended_at is not None
    assert visit.ended_at - visit.started_at == timedelta(minutes=20)
    kinds = [(e.kind, e.role) for e in events]
    for expected in [
        ("joined", "patient"),
        ("joined", "prescriber"),
        ("checked_in", "patient"),
        ("admitted", "prescriber"),
        ("media_connected", "patient"),
        ("media_connected", "prescriber"),
        ("started", None),
        ("finished", "prescriber"),
    ]:
        assert expected in kinds


async def test_a_call_survives_a_server_restart_and_can_still_be_finished(
    settings, sessionmaker, cast: Cast, clock, port
):
    import aiohttp

    first = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=port)
    await first.start_server()
    second: TestServer | None = None
    visit_id, alice, bob = await start_call(settings, sessionmaker, cast, clock, reconnect=True)
    try:
        async with aiohttp.ClientSession(
            base_url=settings.public_url, cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as client:
            await check_in_and_admit(client, cast, visit_id, bob)
        await see_each_other(alice, bob)
        await wait_for_status(sessionmaker, visit_id, "in_progress")

        await first.close()
        second = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=port)
        await second.start_server()

        for peer in (alice, bob):
            await eventually(lambda p=peer: p.rejoins, timeout=10, what=f"{peer.role} rejoins")
            assert peer.rejoins == [{"ok": True, "role": peer.role, "status": "in_progress"}]
            await peer.sock.wait_for("admitted", count=2)  # told to restart ICE
        frames = alice.frames
        # Media keeps flowing peer to peer.
        await eventually(lambda: alice.frames > frames, what="a new frame reaches Alice")

        await end_and_tell(bob, alice, visit_id)
    finally:
        await alice.close()
        await bob.close()
        if second is not None:
            await second.close()
        else:
            await first.close()

    visit, events = await visit_row(sessionmaker, visit_id)
    assert visit.status.value == "finished" and visit.started_at and visit.ended_at
    kinds = [(e.kind, e.role) for e in events]
    assert ("rejoined", "patient") in kinds and ("rejoined", "prescriber") in kinds
