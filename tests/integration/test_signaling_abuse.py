"""A misbehaving client cannot leave a ghost in a call or flood the database: a frame the
transport cannot parse closes that connection at once and frees its seat, and repeating
`join` or `media_state` writes nothing new. A raw WebSocket client plays the attacker; a
real Socket.IO client plays the participant on the other side."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from telehealth.audit import AuditEntry
from telehealth.keys import SIGNALING
from telehealth.visits.models import VisitEvent
from tests.builders import Cast, VisitsSocket, make_visit, session_token

pytestmark = pytest.mark.timeout(60)


class RawSocket:
    """Engine.IO v4 over a bare WebSocket, speaking just enough Socket.IO to join a visit."""

    def __init__(self, http: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self.http = http
        self.ws = ws
        self._ids = 0

    @classmethod
    async def open(cls, url: str, token: str) -> RawSocket:
        http = aiohttp.ClientSession(headers={"Cookie": f"th_session={token}"})
        ws = await http.ws_connect(
            url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        )
        raw = cls(http, ws)
        assert (await raw.frame()).startswith("0{")  # engine.io OPEN
        await ws.send_str("40/visits,")
        assert (await raw.frame()).startswith("40/visits,{")  # socket.io CONNECT
        return raw

    async def frame(self, timeout: float = 5) -> str:
        while True:
            message = await self.ws.receive(timeout)
            if message.type is not aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"closed: {message.type.name}")
            if message.data == "2":  # engine.io PING
                await self.ws.send_str("3")
                continue
            return str(message.data)

    async def call(self, event: str, data: Any) -> Any:
        self._ids += 1
        prefix = f"43/visits,{self._ids}"
        await self.ws.send_str(f"42/visits,{self._ids}" + json.dumps([event, data]))
        while True:
            frame = await self.frame()
            if frame.startswith(prefix + "["):
                return json.loads(frame[len(prefix) :])[0]

    async def closed_within(self, seconds: float) -> bool:
        """Whether the server closes the WebSocket within `seconds` (frames are drained)."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    message = await self.ws.receive()
                    if message.type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.ERROR,
                    ):
                        return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        await self.ws.close()
        await self.http.close()


@pytest.fixture
async def opened():
    sockets: list[VisitsSocket | RawSocket] = []
    yield sockets
    for sock in sockets:
        await sock.close()


async def raw_join(settings, sessionmaker, person, visit, opened) -> RawSocket:
    token = await session_token(sessionmaker, person)
    raw = await RawSocket.open(settings.public_url, token)
    opened.append(raw)
    assert (await raw.call("join", {"visit_id": visit}))["ok"] is True
    return raw


async def participant(settings, sessionmaker, person, visit, opened, *, link=False):
    """A Socket.IO client joined to the visit (the patient through the visit's join link)."""
    token = await session_token(sessionmaker, person, visit_id=visit if link else None)
    sock = VisitsSocket(settings.public_url, token)
    opened.append(sock)
    await sock.connect()
    assert (await sock.call("join", {"visit_id": visit}))["ok"] is True
    return sock


async def call_history(sessionmaker, visit: int) -> list[VisitEvent]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(VisitEvent).where(VisitEvent.visit_id == visit).order_by(VisitEvent.id)
        )
        return list(rows.scalars())


@pytest.mark.parametrize(
    "frame",
    [
        "\x00garbage",  # engine.io cannot read the packet type
        "",  # an empty engine.io packet
        "4\x00garbage",  # an engine.io message that socket.io cannot read
        '42/visits,["join"',  # a socket.io event whose JSON is cut short
    ],
)
async def test_a_frame_the_server_cannot_parse_closes_that_connection_and_frees_its_seat(
    server, settings, sessionmaker, cast: Cast, clock, opened, frame, caplog
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5))
    bob = await raw_join(settings, sessionmaker, cast.bob, visit, opened)
    alice = await participant(settings, sessionmaker, cast.alice, visit, opened, link=True)
    assert alice.received("peer_joined") == [{"role": "prescriber"}]

    caplog.set_level(logging.INFO)
    started = time.monotonic()
    await bob.ws.send_str(frame)
    await bob.ws.send_str(frame)  # a second one is not logged again

    await alice.wait_for("peer_left", timeout=2)
    assert time.monotonic() - started < 2
    assert alice.received("peer_left") == [{"role": "prescriber"}]
    assert await bob.closed_within(2)
    assert alice.sio.connected
    # Logged once for the connection, with no traceback (and nothing of what it sent).
    noted = [r for r in caplog.records if r.getMessage() == "signaling malformed packet"]
    assert len(noted) == 1
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
    assert "garbage" not in caplog.text
    left = [e for e in await call_history(sessionmaker, visit) if e.kind == "left"]
    assert [(e.role, e.detail) for e in left] == [("prescriber", {"reason": "malformed_packet"})]
    # The seat is free: Bob comes back on a new connection and Alice hears him.
    again = await participant(settings, sessionmaker, cast.bob, visit, opened)
    await alice.wait_for("peer_joined", count=2)
    assert again.received("peer_joined") == [{"role": "patient"}]


async def test_a_long_polling_body_the_server_cannot_parse_closes_that_connection_too(
    server, settings, sessionmaker, cast: Cast, clock, opened, caplog
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5))
    token = await session_token(sessionmaker, cast.bob)
    http = aiohttp.ClientSession(headers={"Cookie": f"th_session={token}"})
    base = settings.public_url + "/socket.io/?EIO=4&transport=polling"
    try:
        opening = await (await http.get(base)).text()
        sid = json.loads(opening[1:])["sid"]
        polling = f"{base}&sid={sid}"
        await http.post(polling, data="40/visits,")
        assert "40/visits," in await (await http.get(polling)).text()
        await http.post(polling, data="42/visits,1" + json.dumps(["join", {"visit_id": visit}]))
        assert '"ok":true' in await (await http.get(polling)).text()
        alice = await participant(settings, sessionmaker, cast.alice, visit, opened, link=True)
        assert alice.received("peer_joined") == [{"role": "prescriber"}]

        caplog.set_level(logging.INFO)
        for body in ("\x00garbage", "\x00garbage"):
            answer = await http.post(polling, data=body)
            assert answer.status < 500
        await alice.wait_for("peer_left", timeout=2)
        assert alice.received("peer_left") == [{"role": "prescriber"}]
        assert (await http.get(polling)).status == 400  # the session is gone
        noted = [r for r in caplog.records if r.getMessage() == "signaling malformed packet"]
        assert len(noted) == 1
        assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.WARNING)
    finally:
        await http.close()


async def rows(sessionmaker, visit: int) -> tuple[int, int]:
    """(call-history rows of the visit, audit entries of every kind)."""
    async with sessionmaker() as session:
        events = await session.scalar(
            select(func.count()).select_from(VisitEvent).where(VisitEvent.visit_id == visit)
        )
        audited = await session.scalar(select(func.count()).select_from(AuditEntry))
    return int(events or 0), int(audited or 0)


@pytest.fixture
async def admitted_call(server, settings, sessionmaker, cast: Cast, clock, opened):
    """Alice (through her join link) and Bob in a call Bob admitted; Bob's media is up."""
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    alice = await participant(settings, sessionmaker, cast.alice, visit, opened, link=True)
    bob = await participant(settings, sessionmaker, cast.bob, visit, opened)
    assert (await bob.call("admit", {"visit_id": visit}))["ok"] is True
    up = {"visit_id": visit, "connected": True}
    assert (await bob.call("media_state", up))["ok"] is True
    return visit, alice, bob


async def test_repeating_join_and_media_state_writes_nothing_new(
    limiter_clock, admitted_call, sessionmaker
):
    visit, alice, bob = admitted_call
    before = await rows(sessionmaker, visit)
    up = {"visit_id": visit, "connected": True}

    answers = []
    for _ in range(200):
        answers.append(await bob.call("join", {"visit_id": visit}))
        answers.append(await bob.call("media_state", up))

    # Each repeat is answered (or, past the connection's own rate, refused), never recorded.
    assert {"ok": True, "role": "prescriber", "status": "waiting"} in answers
    assert {a.get("ok") or a["error"]["code"] for a in answers} <= {True, "rate_limited"}
    assert await rows(sessionmaker, visit) == before
    assert alice.received("peer_joined") == [{"role": "prescriber"}]
    # A real change is still recorded, once.
    limiter_clock.advance(1)  # the connection's own rate limit refills
    down = {"visit_id": visit, "connected": False}
    assert (await bob.call("media_state", down))["ok"] is True
    assert (await bob.call("media_state", down))["ok"] is True
    history = await call_history(sessionmaker, visit)
    assert [e.kind for e in history if e.kind.startswith("media_")] == [
        "media_connected",
        "media_disconnected",
    ]


async def test_many_connections_share_one_write_budget_per_visit(
    admitted_call, app, settings, sessionmaker, cast: Cast, opened
):
    visit, alice, _bob = admitted_call
    app[SIGNALING].write_budget.limit = 4  # (30 a minute by default)
    token = await session_token(sessionmaker, cast.bob)
    # Bob's connection took the seat (1 write) and reported media (2); each new connection
    # of his replaces the last until the budget for this visit is spent.
    refusals = []
    for _ in range(6):
        sock = VisitsSocket(settings.public_url, token)
        opened.append(sock)
        await sock.connect()
        answer = await sock.call("join", {"visit_id": visit})
        if not answer["ok"]:
            refusals.append(answer["error"])
    assert len(refusals) == 4
    assert {r["code"] for r in refusals} == {"rate_limited"}
    assert "Wait a minute" in refusals[0]["message"]
    joins = [e for e in await call_history(sessionmaker, visit) if e.kind == "rejoined"]
    assert len(joins) == 2  # the two joins the budget still allowed
    # Alice's budget is her own: her media change is recorded.
    answer = await alice.call("media_state", {"visit_id": visit, "connected": True})
    assert answer == {"ok": True, "status": "in_progress"}
    latest = [(e.kind, e.role) for e in await call_history(sessionmaker, visit)][-2:]
    assert latest == [("media_connected", "patient"), ("started", None)]
