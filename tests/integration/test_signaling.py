"""Signaling over a real socket.io connection: joining, the waiting room, admission, relay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import socketio

from tests.builders import Cast, VisitsSocket, disconnected, login, make_visit, session_token

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def visit(sessionmaker, cast: Cast, clock) -> int:
    return await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10))


async def test_a_connection_without_a_session_cookie_is_refused(server, settings, sockets):
    sock = sockets.track(VisitsSocket(settings.public_url, None))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sock.connect()
    assert not sock.sio.connected


async def test_a_connection_with_an_unknown_cookie_is_refused(server, settings, sockets):
    sock = sockets.track(VisitsSocket(settings.public_url, "not-a-real-session"))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sock.connect()


async def test_the_prescriber_sees_the_patient_check_in_and_admits_them(
    server, client, settings, sessionmaker, cast: Cast, clock, visit, sockets
):
    bob = await sockets(cast.bob)
    dashboard = await bob.call("watch_dashboard", {})
    assert dashboard == {"ok": True, "waiting": []}
    assert await bob.call("join", {"visit_id": visit}) == {
        "ok": True,
        "role": "prescriber",
        "status": "booked",
    }

    alice = await sockets(cast.alice, visit_id=visit)
    assert await alice.call("join", {"visit_id": visit}) == {
        "ok": True,
        "role": "patient",
        "status": "booked",
    }
    await bob.wait_for("peer_joined")
    assert bob.received("peer_joined") == [{"role": "patient"}]
    assert alice.received("peer_joined") == [{"role": "prescriber"}]

    await login(client, cast.alice)
    response = await client.post(f"/api/visits/{visit}/check-in", json={"location_state": "NY"})
    assert response.status == 200, await response.text()
    assert await response.json() == {"status": "waiting"}

    notices = await bob.wait_for("waiting_room", count=2)  # call room and dashboard
    assert notices[0]["visit_id"] == visit
    assert notices[0]["patient_name"] == "Alice Able"
    assert notices[0]["since"]

    assert await bob.call("admit", {"visit_id": visit}) == {"ok": True, "status": "waiting"}
    (for_alice,) = await alice.wait_for("admitted")
    (for_bob,) = await bob.wait_for("admitted")
    policy = {"ice_transport_policy": "all"}
    assert for_alice == {"visit_id": visit, "ice_servers": [], **policy, "polite": True}
    assert for_bob == {"visit_id": visit, "ice_servers": [], **policy, "polite": False}


async def test_signals_reach_only_the_other_participant_in_the_order_sent(
    server, settings, sessionmaker, cast: Cast, clock, visit, sockets
):
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice, visit_id=visit)
    await bob.call("join", {"visit_id": visit})
    await alice.call("join", {"visit_id": visit})

    await bob.emit(
        "signal",
        {
            "visit_id": visit,
            "extra": "dropped",
            "description": {"type": "offer", "sdp": "v=0\r\n", "x": 1},
        },
    )
    for index in range(60):
        await bob.emit(
            "signal",
            {
                "visit_id": visit,
                "candidate": {
                    "candidate": f"candidate:{index} 1 udp 1 192.0.2.2 {5000 + index} typ host",
                    "sdpMid": "0",
                    "sdpMLineIndex": 0,
                },
            },
        )
    received = await alice.wait_for("signal", count=61)
    assert received[0] == {
        "visit_id": visit,
        "from": "prescriber",
        "description": {"type": "offer", "sdp": "v=0\r\n"},
    }
    ports = [int(s["candidate"]["candidate"].split()[5]) for s in received[1:]]
    assert ports == list(range(5000, 5060))
    assert bob.received("signal") == []


async def test_a_second_tab_replaces_the_first(
    server, settings, sessionmaker, cast: Cast, clock, visit, sockets
):
    bob = await sockets(cast.bob)
    first = await sockets(cast.alice, visit_id=visit)
    await bob.call("join", {"visit_id": visit})
    await first.call("join", {"visit_id": visit})
    second = await sockets(cast.alice, visit_id=visit)
    assert (await second.call("join", {"visit_id": visit}))["ok"] is True
    await first.wait_for("replaced")
    assert await disconnected(first)
    await bob.call(
        "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    )
    await second.wait_for("signal")
    assert first.received("signal") == []
    assert bob.received("peer_left") == []


async def test_a_handshake_from_another_site_is_refused(
    server, settings, sessionmaker, cast: Cast, clock, sockets
):
    token = await session_token(sessionmaker, cast.bob, now=clock.now)
    evil = sockets.track(VisitsSocket(settings.public_url, token))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await evil.sio.connect(
            settings.public_url,
            namespaces=["/visits"],
            transports=["websocket"],
            wait_timeout=5,
            headers={"Origin": "https://evil.example"},
        )
    same_site = sockets.track(VisitsSocket(settings.public_url, token))
    await same_site.sio.connect(
        settings.public_url,
        namespaces=["/visits"],
        transports=["websocket"],
        wait_timeout=5,
        headers={"Origin": settings.public_url},
    )
    assert same_site.sio.connected


async def test_hanging_up_and_losing_the_connection_tell_the_other_participant(
    server, client, settings, sessionmaker, cast: Cast, clock, visit, sockets
):
    bob = await sockets(cast.bob)
    alice = await sockets(cast.alice, visit_id=visit)
    await bob.call("join", {"visit_id": visit})
    await alice.call("join", {"visit_id": visit})
    assert await alice.call("leave", {"visit_id": visit}) == {"ok": True}
    assert await bob.wait_for("peer_left") == [{"role": "patient"}]
    ack = await alice.call(
        "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=0\r\n"}}
    )
    assert ack["error"]["code"] == "not_joined"

    await alice.call("join", {"visit_id": visit})
    await bob.wait_for("peer_joined", count=2)
    await alice.close()
    await bob.wait_for("peer_left", count=2)

    await login(client, cast.bob)
    history = await (await client.get(f"/api/visits/{visit}/events")).json()
    *earlier, last = history["events"]
    assert (last["kind"], last["role"]) == ("left", "patient")
    assert last["detail"]["reason"] in ("client_disconnect", "transport_close")
    assert [(e["kind"], e["role"], e["detail"].get("reason")) for e in earlier] == [
        ("joined", "prescriber", None),
        ("joined", "patient", None),
        ("left", "patient", "hung_up"),
        ("rejoined", "patient", None),
    ]


async def test_only_prescribers_watch_a_dashboard_and_see_their_own_waiting_patients(
    server, settings, sessionmaker, cast: Cast, clock, sockets
):
    await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    await make_visit(sessionmaker, cast.dana, cast.charlie, clock.now, status="waiting")
    bob = await sockets(cast.bob)
    charlie = await sockets(cast.charlie)
    alice = await sockets(cast.alice)
    bobs = await bob.call("watch_dashboard", {})
    assert [w["patient_name"] for w in bobs["waiting"]] == ["Alice Able"]
    assert [w["patient_name"] for w in (await charlie.call("watch_dashboard", {}))["waiting"]] == [
        "Dana"
    ]
    refused = await alice.call("watch_dashboard", {})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden"
