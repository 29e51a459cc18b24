"""Everyone who may not be in a visit's call is refused alike, nothing reaches the room, and a
bad message never takes the server (or the sender's connection) down."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import socketio

from tests.builders import Cast, VisitsSocket, disconnected, login, make_visit, session_token
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

NEUTRAL = {
    "ok": False,
    "error": {
        "code": "not_found",
        "message": "This visit is not available to join. Check the link and the visit time.",
    },
}


@pytest.fixture
async def call(server, settings, sessionmaker, cast: Cast, clock, sockets):
    """Alice and Bob joined to Alice's visit, which starts in ten minutes."""
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10))
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice, visit_id=visit)
    assert (await bob.call("join", {"visit_id": visit}))["ok"]
    assert (await alice.call("join", {"visit_id": visit}))["ok"]
    return visit, alice, bob


async def still_works(visit: int, alice: VisitsSocket, bob: VisitsSocket) -> None:
    before = len(alice.received("signal"))
    ack = await bob.call(
        "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    )
    assert ack == {"ok": True}
    relayed = (await alice.wait_for("signal", count=before + 1))[-1]
    assert relayed["from"] == "prescriber"
    assert relayed["description"] == {"type": "offer", "sdp": "v=0\r\n"}


async def nothing_reached(visit: int, alice: VisitsSocket, bob: VisitsSocket) -> None:
    """Nothing but the call's own traffic reached Alice or Bob: a signal sent each way now
    arrives as the first signal (the server sends to a connection in order, so anything it
    had sent them before would be there already), and nothing else came."""
    await still_works(visit, alice, bob)
    before = len(bob.received("signal"))
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    assert await alice.call("signal", {"visit_id": visit, "description": answer}) == {"ok": True}
    await bob.wait_for("signal", count=before + 1)
    for sock in (alice, bob):
        assert len(sock.received("signal")) == 1
        assert sock.received("admitted") == []
        assert sock.received("visit_ended") == []


async def test_the_other_prescriber_is_refused_like_a_missing_visit(
    call, settings, sessionmaker, cast: Cast, clock, sockets
):
    visit, alice, bob = call
    charlie = await sockets(cast.charlie)
    assert await charlie.call("join", {"visit_id": visit}) == NEUTRAL
    assert await charlie.call("join", {"visit_id": 999_999}) == NEUTRAL
    for event in ("admit", "end"):
        assert (await charlie.call(event, {"visit_id": visit}))["ok"] is False
    ack = await charlie.call(
        "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    )
    assert ack["error"]["code"] == "not_joined"
    await nothing_reached(visit, alice, bob)
    assert alice.received("peer_joined") == [{"role": "prescriber"}]


async def test_a_patient_of_another_visit_is_refused(
    call, settings, sessionmaker, cast: Cast, clock, sockets
):
    visit, alice, bob = call
    danas_visit = await make_visit(
        sessionmaker, cast.dana, cast.charlie, clock.now + timedelta(minutes=5)
    )
    signed_in = await sockets(cast.dana)
    via_link = await sockets(cast.dana, visit_id=danas_visit)
    for dana in (signed_in, via_link):
        assert await dana.call("join", {"visit_id": visit}) == NEUTRAL
        assert (await dana.call("media_state", {"visit_id": visit, "connected": True}))[
            "ok"
        ] is False
    # Alice's join link opens her visit only, even though Dana's visit exists.
    alices_link = await sockets(cast.alice, visit_id=visit)
    assert await alices_link.call("join", {"visit_id": danas_visit}) == NEUTRAL
    await nothing_reached(visit, alice, bob)


async def test_a_visit_outside_its_window_cannot_be_joined(
    server, settings, sessionmaker, cast: Cast, clock, sockets
):
    past = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now - timedelta(hours=2))
    later = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(hours=2))
    soon = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=29))
    finished = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="finished")
    in_person = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, modality="in_person"
    )
    bob = await sockets(cast.bob)
    for visit in (past, later, finished, in_person):
        alice = await sockets(cast.alice, visit_id=visit)
        assert await alice.call("join", {"visit_id": visit}) == NEUTRAL
        assert await bob.call("join", {"visit_id": visit}) == NEUTRAL
    assert (await bob.call("join", {"visit_id": soon}))["ok"] is True


async def test_a_connection_is_refused_once_its_session_has_idled_out(
    server, settings, sessionmaker, cast: Cast, clock, sockets
):
    clock.advance(minutes=-30)
    token = await session_token(sessionmaker, cast.bob, now=clock.now)
    clock.advance(minutes=30)
    sock = VisitsSocket(settings.public_url, token)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sock.connect()
    finally:
        await sock.close()


async def test_staff_other_than_the_prescriber_cannot_connect(
    server, settings, sessionmaker, cast: Cast
):
    token = await session_token(sessionmaker, cast.sam)
    sock = VisitsSocket(settings.public_url, token)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sock.connect()
    finally:
        await sock.close()


async def test_an_administrator_connects_for_escalated_alerts_but_joins_no_call(
    server, settings, sessionmaker, cast: Cast, clock
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    sock = VisitsSocket(settings.public_url, await session_token(sessionmaker, cast.ada))
    try:
        await sock.connect()
        assert (await sock.call("watch_dashboard", {}))["ok"] is True
        refused = await sock.call("join", {"visit_id": visit})
        assert refused["ok"] is False and refused["error"]["code"] == "not_found"
        assert (await sock.call("admit", {"visit_id": visit}))["ok"] is False
    finally:
        await sock.close()


MALFORMED = [
    ("join", ({"visit_id": "1"},), "invalid_message"),
    ("join", ({"visit_id": True},), "invalid_message"),
    ("join", (), "invalid_message"),
    ("join", ([1, 2],), "invalid_message"),
    ("join", ({"visit_id": 1}, {"visit_id": 2}), "invalid_message"),
    (
        "signal",
        ({"visit_id": 0, "description": {"type": "offer", "sdp": "v=0"}},),
        "invalid_message",
    ),
    (
        "signal",
        (
            {
                "description": {"type": "offer", "sdp": "x"},
                "candidate": {"candidate": "", "sdpMid": "0"},
            },
        ),
        "invalid_message",
    ),
    ("signal", ({"description": {"type": "bogus", "sdp": "x"}},), "invalid_message"),
    (
        "signal",
        ({"description": {"type": "offer", "sdp": "x" * (64 * 1024 + 1)}},),
        "too_large",
    ),
    ("signal", ({"candidate": {"candidate": "c" * 2000, "sdpMid": "0"}},), "too_large"),
    (
        "signal",
        ({"candidate": {"candidate": "candidate:1", "sdpMLineIndex": -1}},),
        "invalid_message",
    ),
    ("signal", ({"candidate": "candidate:1"},), "invalid_message"),
    ("media_state", ({"connected": "yes"},), "invalid_message"),
    ("watch_dashboard", ("please",), "invalid_message"),
    ("join_room", ({"room": "visit:1"},), "unknown_event"),
    ("message", ("hello",), "unknown_event"),
]


async def test_malformed_and_unknown_messages_are_refused_without_disconnecting(call):
    visit, alice, bob = call
    for event, args, code in MALFORMED:
        await refused_politely(visit, alice, bob, event, args, code)


async def refused_politely(visit, alice, bob, event, args, code):
    errors_before = len(bob.received("error"))
    signals_before = len(alice.received("signal"))
    payload = list(args)
    if payload and isinstance(payload[0], dict) and event in ("signal", "media_state"):
        payload[0] = {"visit_id": visit, **payload[0]}
    # python-socketio sends None as no argument, a tuple as several, anything else as one.
    data = None if not payload else payload[0] if len(payload) == 1 else tuple(payload)
    acked: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    await bob.sio.emit(
        event, data, namespace="/visits", callback=lambda *a: acked.set_result(a[0] if a else None)
    )
    ack = await asyncio.wait_for(acked, 5)
    assert ack["ok"] is False
    assert ack["error"]["code"] == code
    assert ack["error"]["message"]
    await bob.wait_for("error", count=errors_before + 1)
    assert bob.sio.connected, (event, args)
    # Bob's events are handled in order: had the refused one been relayed, it would arrive
    # before this one.
    await still_works(visit, alice, bob)
    assert len(alice.received("signal")) == signals_before + 1
    assert alice.received("admitted") == alice.received("visit_ended") == []


async def test_a_message_over_the_transport_limit_closes_only_that_connection(
    call, settings, sessionmaker, cast: Cast, clock, sockets
):
    visit, alice, bob = call
    await bob.emit(
        "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "x" * 400_000}}
    )
    assert await disconnected(bob)
    again = await sockets(cast.bob)
    assert (await again.call("join", {"visit_id": visit}))["ok"] is True
    await nothing_reached(visit, alice, again)


async def test_a_flooding_connection_is_rate_limited_and_stays_connected(limiter_clock, call):
    visit, alice, bob = call
    for index in range(400):
        await bob.emit(
            "signal",
            {
                "visit_id": visit,
                "candidate": {
                    "candidate": f"candidate:{index} 1 udp 1 192.0.2.2 {index} typ host",
                    "sdpMid": "0",
                },
            },
        )

    def refusals() -> list[dict[str, object]]:
        return [e for e in bob.received("error") if e["error"]["code"] == "rate_limited"]

    await eventually(
        lambda: len(alice.received("signal")) + len(refusals()) == 400,
        timeout=10,
        what="each of the 400 signals is relayed or refused",
    )
    delivered = alice.received("signal")
    assert refusals()
    assert len(delivered) + len(refusals()) == 400
    assert len(delivered) < 400
    assert bob.sio.connected
    limiter_clock.advance(1)  # the bucket refills
    await still_works(visit, alice, bob)


async def test_only_participants_get_ice_servers_and_only_staff_see_call_history(
    server, client, new_client, sessionmaker, cast: Cast, clock
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    for person, status in (
        (cast.alice, 200),
        (cast.bob, 200),
        (cast.charlie, 404),
        (cast.sam, 404),
        (cast.ada, 404),
        (cast.dana, 404),
    ):
        browser = await new_client()
        await login(browser, person)
        response = await browser.get(f"/api/visits/{visit}/ice-servers")
        assert response.status == status, person.username
        events = await browser.get(f"/api/visits/{visit}/events")
        expected = 200 if person in (cast.bob, cast.ada) else 404
        assert events.status == expected, person.username
