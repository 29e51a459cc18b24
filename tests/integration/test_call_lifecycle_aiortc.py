"""Two real aiortc peers hold a video visit through the real signaling server.

aiortc puts its candidates in the SDP (no trickle), has no ICE restart and no rollback, so
the aiortc prescriber takes the impolite offerer's part and the aiortc patient answers.
aioice never uses loopback addresses: the peers meet on this machine's own interface.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from sqlalchemy import select

from telehealth.app import create_app
from telehealth.uow import unit_of_work
from telehealth.visits.models import Visit, VisitEvent
from tests.builders import Cast, VisitsSocket, make_visit, session_token

pytestmark = pytest.mark.timeout(90)


class CallPeer:
    """One side of the call: reacts to signaling events in the order they arrive."""

    def __init__(self, sock: VisitsSocket, visit_id: int, role: str) -> None:
        self.sock = sock
        self.visit_id = visit_id
        self.role = role
        self.pc: RTCPeerConnection | None = None
        self.frames = 0
        self.enough_frames = asyncio.Event()
        self.connected = asyncio.Event()
        self.admitted = 0
        self.rejoins: list[dict[str, Any]] = []
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
                if self.pc is None and self.role == "prescriber":
                    await self._offer()
            elif event == "signal" and "description" in data:
                await self._on_description(data["description"])

    def _peer(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
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
        remote = RTCSessionDescription(sdp=description["sdp"], type=description["type"])
        if description["type"] == "offer":
            pc = self.pc or self._peer()
            await pc.setRemoteDescription(remote)
            await pc.setLocalDescription(await pc.createAnswer())
            await self._send(pc)
        elif self.pc is not None:
            await self.pc.setRemoteDescription(remote)

    async def _send(self, pc: RTCPeerConnection) -> None:
        local = pc.localDescription
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
    from tests.builders import login

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
    for _ in range(100):
        visit, _events = await visit_row(sessionmaker, visit_id)
        if visit.status.value == status:
            return visit
        await asyncio.sleep(0.05)
    raise AssertionError(f"visit never became {status}; it is {visit.status.value}")


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
        assert await bob.sock.call("end", {"visit_id": visit_id}) == {
            "ok": True,
            "status": "finished",
        }
        await alice.sock.wait_for("visit_ended")
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
            for _ in range(200):
                if peer.rejoins:
                    break
                await asyncio.sleep(0.05)
            assert peer.rejoins == [{"ok": True, "role": peer.role, "status": "in_progress"}]
            await peer.sock.wait_for("admitted", count=2)  # told to restart ICE
        frames = alice.frames
        await asyncio.sleep(0.5)
        assert alice.frames > frames  # media kept flowing peer to peer

        assert await bob.sock.call("end", {"visit_id": visit_id}) == {
            "ok": True,
            "status": "finished",
        }
        await alice.sock.wait_for("visit_ended")
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
