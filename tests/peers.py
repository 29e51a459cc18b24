"""Real aiortc call peers for integration tests: they join a visit over the real signaling
server and behave as the browser pages do with what `admitted` says (ICE servers and the
ICE transport policy).

aiortc puts its candidates in the SDP (no trickle), has no ICE restart and no rollback, so
the aiortc prescriber takes the impolite offerer's part and the aiortc patient answers.
aioice never uses loopback addresses for host candidates: the peers meet on this machine's
own interface (or through a TURN relay).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from sqlalchemy import select

from telehealth.uow import unit_of_work
from telehealth.visits.models import Visit, VisitEvent
from tests.builders import Cast, VisitsSocket, login, make_visit, session_token
from tests.waiting import eventually


def rtc_configuration(
    ice_servers: list[dict[str, Any]], policy: str, turn_transport: str | None = None
) -> RTCConfiguration:
    """What a browser builds from the server's ICE answer. aiortc uses only the first TURN
    URL it is given, where a browser tries them all: `turn_transport` ("udp", "tcp", "tls")
    keeps the one the browser would end up using on a network that blocks the others."""
    if turn_transport is not None:
        ice_servers = [
            {
                **server,
                "urls": [u for u in server["urls"] if turn_url_transport(u) == turn_transport],
            }
            if "username" in server
            else server
            for server in ice_servers
        ]
    return RTCConfiguration(
        iceServers=[RTCIceServer(**server) for server in ice_servers],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY
        if policy == "relay"
        else RTCIceTransportPolicy.ALL,
    )


def turn_url_transport(url: str) -> str:
    if url.startswith("turns:"):
        return "tls"
    return "tcp" if url.endswith("transport=tcp") else "udp"


def ice_ufrag(sdp: str) -> str:
    return next(
        (line.split(":", 1)[1] for line in sdp.splitlines() if line.startswith("a=ice-ufrag:")),
        "",
    )


def candidate_types(sdp: str) -> list[str]:
    """The candidate types ("host", "srflx", "relay") an SDP reveals to the other side."""
    return [
        line.split(" typ ")[1].split()[0]
        for line in sdp.splitlines()
        if line.startswith("a=candidate:")
    ]


def selected_pair(pc: RTCPeerConnection) -> Any:
    """The candidate pair aioice nominated for the call's (bundled) transport."""
    ice = pc.getTransceivers()[0].receiver.transport.transport
    pairs = list(ice._connection._nominated.values())
    assert pairs, "no candidate pair was nominated"
    return pairs[0]


class CallPeer:
    """One side of the call: reacts to signaling events in the order they arrive."""

    def __init__(
        self, sock: VisitsSocket, visit_id: int, role: str, turn_transport: str | None = None
    ) -> None:
        self.sock = sock
        self.turn_transport = turn_transport
        self.visit_id = visit_id
        self.role = role
        self.pc: RTCPeerConnection | None = None
        self.frames = 0
        self.enough_frames = asyncio.Event()
        self.connected = asyncio.Event()
        self.admitted = 0
        self.rejoins: list[dict[str, Any]] = []
        self.ice_servers: list[dict[str, Any]] = []
        self.ice_policy = "all"
        self.sent: list[str] = []
        self.received: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run()))

    async def _run(self) -> None:
        async for event, data in self.sock.stream():
            if event == "connect" and self.admitted:
                # A reconnect (the server restarted): rejoin; status must not be lost.
                self.rejoins.append(await self.sock.call("join", {"visit_id": self.visit_id}))
            elif event == "admitted":
                self.admitted += 1
                self.ice_servers = data.get("ice_servers", [])
                self.ice_policy = data.get("ice_transport_policy", "all")
                if self.pc is None and self.role == "prescriber":
                    await self._offer()
            elif event == "signal" and "description" in data:
                await self._on_description(data["description"])

    def _peer(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(
            rtc_configuration(self.ice_servers, self.ice_policy, self.turn_transport)
        )
        pc.addTrack(VideoStreamTrack())

        @pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._consume(track)))

        @pc.on("iceconnectionstatechange")
        async def on_state() -> None:
            if pc.iceConnectionState in ("connected", "completed"):
                self.connected.set()
                await self.sock.call("media_state", {"visit_id": self.visit_id, "connected": True})

        self.pc = pc
        return pc

    async def _consume(self, track: Any) -> None:
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.frames += 1
                if self.frames >= 5:
                    self.enough_frames.set()

    async def _offer(self) -> None:
        pc = self._peer()
        await pc.setLocalDescription(await pc.createOffer())
        await self._send(pc)

    async def _on_description(self, description: dict[str, Any]) -> None:
        self.received.append(description["sdp"])
        remote = RTCSessionDescription(sdp=description["sdp"], type=description["type"])
        if description["type"] == "offer":
            current = self.pc.remoteDescription if self.pc is not None else None
            if self.pc is not None and (
                current is None or ice_ufrag(current.sdp) != ice_ufrag(description["sdp"])
            ):
                # The other side restarted ICE (its network changed): aiortc cannot
                # restart in place, so a fresh connection answers, as call-core.js does
                # for an offer from a new connection.
                self._tasks.append(asyncio.create_task(self._close_quietly(self.pc)))
                self.pc = None
            pc = self.pc or self._peer()
            await pc.setRemoteDescription(remote)
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send(pc)
        elif self.pc is not None:
            await self.pc.setRemoteDescription(remote)

    async def restart(self) -> None:
        """What a browser does when its network changes: a new ICE session, offered by
        this side (aiortc has no restartIce(): a fresh connection carries new ICE
        credentials). The old connection's path is gone: it is closed on the side."""
        old, self.pc = self.pc, None
        if old is not None:
            self._tasks.append(asyncio.create_task(self._close_quietly(old)))
        await self._offer()

    async def _close_quietly(self, pc: RTCPeerConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pc.close(), 5)

    async def _send(self, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
        self.sent.append(local.sdp)
        ack = await self.sock.call(
            "signal",
            {
                "visit_id": self.visit_id,
                "description": {"type": local.type, "sdp": local.sdp},
            },
        )
        assert ack == {"ok": True}

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        if self.pc is not None:
            await self.pc.close()
        await self.sock.close()


async def visit_row(sessionmaker: Any, visit_id: int) -> tuple[Visit, list[VisitEvent]]:
    async with unit_of_work(sessionmaker) as session:
        visit = await session.get(Visit, visit_id)
        events = (
            (
                await session.execute(
                    select(VisitEvent)
                    .where(VisitEvent.visit_id == visit_id)
                    .order_by(VisitEvent.id)
                )
            )
            .scalars()
            .all()
        )
        assert visit is not None
        return visit, list(events)


async def start_call(
    settings: Any, sessionmaker: Any, cast: Cast, clock: Any, *, reconnect: bool = False
) -> tuple[int, CallPeer, CallPeer]:
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5)
    )
    options: dict[str, Any] = (
        {
            "reconnection": True,
            "reconnection_delay": 0.2,
            "reconnection_delay_max": 0.5,
            "randomization_factor": 0,
        }
        if reconnect
        else {}
    )
    alice_token = await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now)
    bob_token = await session_token(sessionmaker, cast.bob, now=clock.now)
    alice = CallPeer(VisitsSocket(settings.public_url, alice_token, **options), visit_id, "patient")
    bob = CallPeer(VisitsSocket(settings.public_url, bob_token, **options), visit_id, "prescriber")
    for peer in (alice, bob):
        await peer.sock.connect()
        peer.start()
        ack = await peer.sock.call("join", {"visit_id": visit_id})
        assert ack["ok"] is True and ack["role"] == peer.role
    return visit_id, alice, bob


async def check_in_and_admit(client: Any, cast: Cast, visit_id: int, bob: CallPeer) -> None:
    await login(client, cast.alice)
    response = await client.post(f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"})
    assert response.status == 200, await response.text()
    await bob.sock.wait_for("waiting_room")
    assert await bob.sock.call("admit", {"visit_id": visit_id}) == {"ok": True, "status": "waiting"}


async def see_each_other(alice: CallPeer, bob: CallPeer) -> None:
    for peer in (alice, bob):
        await asyncio.wait_for(peer.connected.wait(), 20)
        await asyncio.wait_for(peer.enough_frames.wait(), 20)


async def wait_for_status(sessionmaker: Any, visit_id: int, status: str) -> Visit:
    async def visit_in_status() -> Visit | None:
        visit, _events = await visit_row(sessionmaker, visit_id)
        return visit if visit.status.value == status else None

    return await eventually(visit_in_status, what=f"visit {visit_id} is {status}")


async def end_and_tell(prescriber: CallPeer, patient: CallPeer, visit_id: int) -> None:
    """The prescriber ends the visit; the patient's page is told."""
    ack = await prescriber.sock.call("end", {"visit_id": visit_id})
    assert ack == {"ok": True, "status": "finished"}
    await patient.sock.wait_for("visit_ended")
