"""Async builders for test data, and the personas as fixtures.

Alice is the patient, Bob the prescriber of her visit, Charlie another prescriber who must
see nothing of it; Sam schedules and Ada administers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.auth.accounts import create_user
from telehealth.auth.models import User
from telehealth.auth.npi import npi_with_check_digit
from telehealth.db import utcnow
from telehealth.http.models.auth import NewUser
from telehealth.uow import unit_of_work
from telehealth.visits.models import Visit
from tests.waiting import eventually

PASSWORD = "correct-horse-battery"
_npis = itertools.count(100000001)


@dataclass
class Person:
    id: int
    username: str
    role: str
    password: str = PASSWORD


async def make_user(
    sessionmaker: async_sessionmaker[AsyncSession], role: str, username: str, **extra: Any
) -> Person:
    data: dict[str, Any] = {
        "username": username,
        "role": role,
        "full_name": extra.pop("full_name", username.title()),
        "password": extra.pop("password", PASSWORD),
    }
    if role == "patient":
        data.update(
            date_of_birth="1990-05-17",
            state="NY",
            timezone="America/New_York",
            email=f"{username}@example.org",
        )
    if role == "prescriber":
        data.update(
            credential="MD",
            npi=npi_with_check_digit(str(next(_npis))),
            licensed_states=["NY", "NJ"],
            timezone="America/New_York",
        )
    data.update(extra)
    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        account = NewUser.model_validate(data).account()
        user: User = await create_user(session, actor=None, account=account, now=utcnow())
    assert user.id is not None
    return Person(user.id, user.username, role, data.get("password") or "")


@dataclass
class Cast:
    alice: Person
    bob: Person
    charlie: Person
    sam: Person
    ada: Person
    dana: Person  # another patient


@pytest.fixture
async def cast(sessionmaker: async_sessionmaker[AsyncSession]) -> Cast:
    return Cast(
        alice=await make_user(sessionmaker, "patient", "alice", full_name="Alice Able"),
        bob=await make_user(sessionmaker, "prescriber", "bob", full_name="Dr Bob Baker"),
        charlie=await make_user(sessionmaker, "prescriber", "charlie", full_name="Dr Charlie Chu"),
        sam=await make_user(sessionmaker, "scheduler", "sam"),
        ada=await make_user(sessionmaker, "admin", "ada"),
        dana=await make_user(
            sessionmaker, "patient", "dana", state="KY", timezone="America/Chicago"
        ),
    )


async def login(client: Any, person: Person) -> dict[str, Any]:
    response = await client.post(
        "/api/session", json={"username": person.username, "password": person.password}
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def as_user(new_client: Any, person: Person) -> Any:
    """Another browser (`new_client`), signed in as `person`."""
    c = await new_client()
    await login(c, person)
    return c


async def error_of(response: Any, status: int) -> dict[str, Any]:
    """The `error` object of an answer that must have `status`."""
    assert response.status == status, await response.text()
    body: dict[str, Any] = (await response.json())["error"]
    return body


# Monday 26 October 2026, 12:00 UTC (08:00 in New York): the scheduling tests' day.
MONDAY = datetime(2026, 10, 26, 12, tzinfo=UTC)


@pytest.fixture
async def sam(client: Any, cast: Cast, clock: Any, sessionmaker: Any) -> Any:
    """`client` signed in as Sam the scheduler on MONDAY, Bob's and Charlie's hours open."""
    clock.set(MONDAY)
    await open_hours(sessionmaker, cast.bob)
    await open_hours(sessionmaker, cast.charlie)
    await login(client, cast.sam)
    return client


def iso(dt: datetime) -> str:
    return dt.isoformat()


async def make_visit(
    sessionmaker: async_sessionmaker[AsyncSession],
    patient: Person,
    prescriber: Person,
    start: datetime,
    *,
    minutes: int = 30,
    modality: str = "telehealth",
    visit_type: str = "follow_up",
    status: str = "booked",
    location_state: str | None = None,
) -> int:
    """Insert a visit directly (no booking rules): for tests of what happens after booking."""
    from datetime import timedelta

    from telehealth.visits.models import Modality, Visit, VisitStatus, VisitType

    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        visit = Visit(
            patient_id=patient.id,
            prescriber_id=prescriber.id,
            visit_type=VisitType(visit_type),
            modality=Modality(modality),
            status=VisitStatus(status),
            start=start,
            end=start + timedelta(minutes=minutes),
            location_state=location_state,
            checked_in_at=start if status in ("waiting", "in_progress", "finished") else None,
        )
        session.add(visit)
        await session.flush()
        assert visit.id is not None
        return visit.id


async def session_token(
    sessionmaker: async_sessionmaker[AsyncSession],
    person: Person,
    *,
    visit_id: int | None = None,
    now: datetime | None = None,
) -> str:
    """A session cookie value for `person`, as if signed in (or, with `visit_id`, as if they
    came in through that visit's join link)."""
    from telehealth.auth.sessions import start_session

    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        user = await session.get(User, person.id)
        assert user is not None
        sequence = None
        if visit_id is not None:
            visit = await session.get(Visit, visit_id)
            assert visit is not None
            sequence = visit.sequence  # as POST /api/join records it
        return await start_session(
            session,
            user=user,
            now=now or utcnow(),
            source_address=None,
            visit_id=visit_id,
            visit_sequence=sequence,
        )


class VisitsSocket:
    """A socket.io client on namespace /visits that records every event it receives."""

    def __init__(self, url: str, token: str | None, *, ssl: Any = None, **options: Any) -> None:
        import asyncio

        import aiohttp
        import socketio
        from yarl import URL

        self.url = url
        self.token = token
        options.setdefault("reconnection", False)
        # A cookie jar like a browser's: the cookie goes with every (re)connection. (Passed
        # as a header, python-engineio's client drops it after the first connection.)
        jar = aiohttp.CookieJar(unsafe=True)
        if token:
            jar.update_cookies({"th_session": token}, response_url=URL(url))
        # `ssl`: an SSLContext that trusts a test certificate (a server behind nginx's TLS).
        connector = aiohttp.TCPConnector(ssl=ssl) if ssl is not None else None
        self.http = aiohttp.ClientSession(cookie_jar=jar, connector=connector)
        self.sio = socketio.AsyncClient(http_session=self.http, **options)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Condition()
        self.sio.on("*", self._record, namespace="/visits")
        self.sio.on("connect", self._connected, namespace="/visits")

    async def _connected(self) -> None:
        await self._record("connect")

    async def _record(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append((event, args[0] if args else None))
            self._changed.notify_all()

    async def connect(self) -> VisitsSocket:
        headers = {"Cookie": f"th_session={self.token}"} if self.token else {}
        await self.sio.connect(
            self.url,
            headers=headers,
            namespaces=["/visits"],
            transports=["websocket"],
            wait_timeout=5,
        )
        return self

    async def call(self, event: str, data: Any = None, timeout: float = 5) -> Any:
        return await self.sio.call(event, data, namespace="/visits", timeout=timeout)

    async def emit(self, event: str, data: Any = None) -> None:
        await self.sio.emit(event, data, namespace="/visits")

    async def stream(self) -> Any:
        """Every event received, in order, waiting for the next one (an async iterator)."""
        index = 0
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda i=index: len(self.events) > i)
            yield self.events[index]
            index += 1

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, count: int = 1, timeout: float = 5) -> list[Any]:
        import asyncio

        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.received(event)) >= count)

        await asyncio.wait_for(enough(), timeout)
        return self.received(event)

    async def close(self) -> None:
        await self.sio.disconnect()
        await self.http.close()


async def open_hours(
    sessionmaker: async_sessionmaker[AsyncSession],
    prescriber: Person,
    *,
    start: str = "09:00",
    end: str = "17:00",
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6),
    buffer_minutes: int | None = None,
) -> None:
    """Give a prescriber the same weekly hours (in their own zone) on the given weekdays."""
    from telehealth.scheduling.availability import set_availability
    from telehealth.scheduling.slots import WeeklyRange, parse_range

    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        await set_availability(
            session,
            actor=None,
            prescriber_id=prescriber.id,
            weekly=[WeeklyRange(d, parse_range(start, end, "hours")) for d in days],
            exceptions=[],
            buffer_minutes=buffer_minutes,
        )


# Order bodies used across the order and gate tests.
SERTRALINE = {
    "medication_id": "sertraline-tablet",
    "dose": "50 mg",
    "route": "oral",
    "frequency": "once daily",
    "quantity": "30",
    "refills": 2,
    "instructions": "Take in the morning with food.",
}
ALPRAZOLAM = {
    "medication_id": "alprazolam-tablet",
    "dose": "0.25 mg",
    "route": "oral",
    "frequency": "twice daily as needed",
    "quantity": "20",
    "refills": 0,
    "instructions": "",
}


async def book_telehealth(
    client: Any, sessionmaker: async_sessionmaker[AsyncSession], cast: Cast, start: datetime
) -> dict[str, Any]:
    """Open Bob's hours and book Alice with him through the API as Sam; the answer gains
    `token`, the secret part of its join link."""
    await open_hours(sessionmaker, cast.bob)
    await login(client, cast.sam)
    response = await client.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": start.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    body["token"] = body["join_url"].rsplit("/join/", 1)[1]
    return body


async def alice_in_a_call_with_bob(
    sessionmaker: async_sessionmaker[AsyncSession], cast: Cast, clock: Any
) -> int:
    """A telehealth visit that started five minutes ago, Alice attesting she is in NY."""
    from datetime import timedelta

    return await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=5),
        status="in_progress",
        location_state="NY",
    )


async def disconnected(sock: VisitsSocket) -> bool:
    """True once the server dropped the socket (an AssertionError after five seconds)."""
    return await eventually(lambda: not sock.sio.connected, what="the socket is disconnected")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_cli(settings: Any, *args: str, **env: str) -> Any:
    """`telehealth ARGS` as the operator runs it, on the test's database, data folder,
    audit key and checkpoint file (unless `env` says otherwise)."""
    import os
    import subprocess
    import sys

    full_env = {
        **os.environ,
        "TELEHEALTH_DATABASE_URL": settings.database_url,
        "TELEHEALTH_DATA_DIR": str(settings.data_dir),
        "TELEHEALTH_AUDIT_KEY": settings.audit_key,
        "TELEHEALTH_AUDIT_CHECKPOINT_FILE": str(settings.checkpoint_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "telehealth", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


class LimiterClock:
    """The signaling server's per-connection rate limiter, on a clock the test moves: it
    reads the monotonic clock, so waiting for its buckets to refill would mean sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def limiter_clock(app: Any) -> LimiterClock:
    from telehealth.keys import SIGNALING
    from telehealth.signaling.rooms import RateLimiter

    clock = LimiterClock()

    class ShiftedRateLimiter(RateLimiter):
        def allow(self, sid: str, now: float) -> bool:
            return super().allow(sid, now + clock.offset)

    app[SIGNALING].limiter = ShiftedRateLimiter()
    return clock


class Sockets:
    """Opens /visits sockets for the test and closes them after it (the `sockets` fixture)."""

    def __init__(self, settings: Any, sessionmaker: Any, clock: Any) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.opened: list[VisitsSocket] = []

    async def __call__(
        self, person: Person, *, visit_id: int | None = None, headers: dict[str, str] | None = None
    ) -> VisitsSocket:
        """A connected socket of `person`, signed in at the test clock's time (with
        `visit_id`: through that visit's join link), sending `headers` on the handshake."""
        token = await session_token(
            self.sessionmaker, person, visit_id=visit_id, now=self.clock.now
        )
        sock = self.track(VisitsSocket(self.settings.public_url, token))
        if headers is None:
            return await sock.connect()
        await sock.sio.connect(
            self.settings.public_url,
            headers={"Cookie": f"th_session={token}", **headers},
            namespaces=["/visits"],
            transports=["websocket"],
            wait_timeout=5,
        )
        return sock

    def track(self, sock: VisitsSocket) -> VisitsSocket:
        """Close a socket the test made itself along with the others."""
        self.opened.append(sock)
        return sock

    async def close(self) -> None:
        for sock in self.opened:
            await sock.close()


@pytest.fixture
async def sockets(settings: Any, sessionmaker: Any, clock: Any) -> Any:
    opener = Sockets(settings, sessionmaker, clock)
    yield opener
    await opener.close()
