"""Calls carried by a real coturn (started from deploy/turnserver.conf): relay-only mode
(TELEHEALTH_ICE_TRANSPORT_POLICY=relay) and TURN over UDP, TCP and TLS, with real aiortc
peers joining through the real signaling server."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from telehealth.config import ConfigError, IceTransportPolicy, load_settings
from tests.builders import Cast, login, make_visit
from tests.coturn import Coturn
from tests.peers import (
    CallPeer,
    candidate_types,
    check_in_and_admit,
    rtc_configuration,
    see_each_other,
    selected_pair,
    start_call,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)


def relay_only(settings: Any, clock: Any, coturn: Coturn, *transports: str) -> None:
    settings.turn_urls = [coturn.url(t) for t in transports]
    settings.turn_secret = coturn.secret
    settings.ice_transport_policy = IceTransportPolicy.relay
    # coturn judges credential expiry by the machine's real clock.
    clock.set(datetime.now(UTC).replace(microsecond=0))


def turn_connection(pc: RTCPeerConnection) -> Any:
    """The asyncio transport between this peer and coturn under its relayed candidate."""
    relay = selected_pair(pc).protocol.transport
    return relay._TurnTransport__inner_protocol.transport  # the allocation's own socket


async def hold_call(
    client: Any, settings: Any, sessionmaker: Any, cast: Cast, clock: Any
) -> tuple[CallPeer, CallPeer]:
    visit_id, alice, bob = await start_call(settings, sessionmaker, cast, clock)
    try:
        await check_in_and_admit(client, cast, visit_id, bob)
        await see_each_other(alice, bob)
    except BaseException:
        await alice.close()
        await bob.close()
        raise
    return alice, bob


async def test_relay_policy_carries_the_call_through_turn_and_shows_no_address(
    coturn: Coturn, server, client, settings, sessionmaker, cast: Cast, clock
):
    relay_only(settings, clock, coturn, "udp")
    alice, bob = await hold_call(client, settings, sessionmaker, cast, clock)
    try:
        for peer in (alice, bob):
            assert peer.ice_policy == "relay"
            pair = selected_pair(peer.pc)
            assert (pair.local_candidate.type, pair.remote_candidate.type) == ("relay", "relay")
            # Nothing but relayed addresses crossed the signaling server, either way.
            for sdp in peer.sent + peer.received:
                assert candidate_types(sdp) and set(candidate_types(sdp)) == {"relay"}
        frames = alice.frames
        await eventually(lambda: alice.frames > frames, what="a new frame reaches Alice")
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_turn_over_tcp_and_tls_carries_the_call(
    transport: str,
    coturn: Coturn,
    server,
    client,
    settings,
    sessionmaker,
    cast: Cast,
    clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    # aioice checks coturn's certificate against the default trust store: this test's own.
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "turn-cert.pem"))
    relay_only(settings, clock, coturn, transport)
    alice, bob = await hold_call(client, settings, sessionmaker, cast, clock)
    try:
        expected_port = coturn.tls_port if transport == "tls" else coturn.port
        for peer in (alice, bob):
            pair = selected_pair(peer.pc)
            assert (pair.local_candidate.type, pair.remote_candidate.type) == ("relay", "relay")
            socket = turn_connection(peer.pc)
            assert socket.get_extra_info("peername") == ("127.0.0.1", expected_port)
            assert socket.get_extra_info("socket").type.name == "SOCK_STREAM"
            tls = socket.get_extra_info("ssl_object")
            assert (tls is not None) == (transport == "tls")
    finally:
        await alice.close()
        await bob.close()


async def test_ice_servers_answer_says_relay_and_lists_every_transport(
    coturn: Coturn, client, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    settings.turn_urls = [coturn.url(t) for t in ("udp", "tcp", "tls")]
    settings.turn_secret = coturn.secret
    answer = await (await client.get(f"/api/visits/{visit_id}/ice-servers")).json()
    assert answer["iceTransportPolicy"] == "all"

    settings.ice_transport_policy = IceTransportPolicy.relay
    answer = await (await client.get(f"/api/visits/{visit_id}/ice-servers")).json()
    assert answer["iceTransportPolicy"] == "relay"
    (turn,) = answer["iceServers"]
    assert turn["urls"] == [
        f"turn:127.0.0.1:{coturn.port}?transport=udp",
        f"turn:127.0.0.1:{coturn.port}?transport=tcp",
        f"turns:127.0.0.1:{coturn.tls_port}?transport=tcp",
    ]
    assert turn["username"].endswith(f":{cast.alice.id}") and turn["credential"]


def test_relay_policy_needs_a_relay_and_turn_urls_must_be_turn_urls(monkeypatch):
    monkeypatch.setenv("TELEHEALTH_ICE_TRANSPORT_POLICY", "relay")
    with pytest.raises(ConfigError, match="TELEHEALTH_TURN_URLS and TELEHEALTH_TURN_SECRET"):
        load_settings(secret_key="x" * 40)
    monkeypatch.setenv("TELEHEALTH_ICE_TRANSPORT_POLICY", "p2p")
    with pytest.raises(ConfigError, match="TELEHEALTH_ICE_TRANSPORT_POLICY"):
        load_settings(secret_key="x" * 40)
    monkeypatch.delenv("TELEHEALTH_ICE_TRANSPORT_POLICY")
    for bad in ("stun:turn.example.org", "turns:turn.example.org?transport=udp", "turn:"):
        monkeypatch.setenv("TELEHEALTH_TURN_URLS", bad)
        with pytest.raises(ConfigError, match="TELEHEALTH_TURN_URLS"):
            load_settings(secret_key="x" * 40)
    monkeypatch.setenv(
        "TELEHEALTH_TURN_URLS",
        "turn:t.example.org:3478,turn:t.example.org:3478?transport=tcp,"
        "turns:t.example.org:443?transport=tcp",
    )
    assert len(load_settings(secret_key="x" * 40).turn_urls) == 3


async def test_precall_test_in_relay_mode_uses_turn_on_both_sides(
    coturn: Coturn, server, client, settings, cast: Cast, clock
):
    relay_only(settings, clock, coturn, "udp")
    await login(client, cast.alice)
    answer = await (await client.get("/api/precall/ice-servers")).json()
    assert answer["iceTransportPolicy"] == "relay"
    # The browser's side, as precall.js builds it.
    pc = RTCPeerConnection(rtc_configuration(answer["iceServers"], answer["iceTransportPolicy"]))
    channel = pc.createDataChannel("rtt")
    echoed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    channel.on("open", lambda: channel.send("ping-1"))
    channel.on("message", lambda m: echoed.done() or echoed.set_result(m))
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert set(candidate_types(pc.localDescription.sdp)) == {"relay"}
        response = await client.post(
            "/api/precall/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}
        )
        assert response.status == 201, await response.text()
        body = await response.json()
        # The server's test peer offers only its relayed address too.
        assert set(candidate_types(body["sdp"])) == {"relay"}
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        assert await asyncio.wait_for(echoed, 15) == "ping-1"
        pair = pc.sctp.transport.transport._connection._nominated[1]
        assert (pair.local_candidate.type, pair.remote_candidate.type) == ("relay", "relay")
    finally:
        with contextlib.suppress(Exception):
            await pc.close()
