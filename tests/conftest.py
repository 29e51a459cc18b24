"""Shared fixtures: real SQLite and PostgreSQL databases (migrated with Alembic), a real
HTTP server per test, a controllable clock, and builders for the personas.

Which database a test runs on is said by a marker, next to the test:

- no marker: once, on SQLite (a fresh copy of the migrated template; it needs no service,
  so every test runs everywhere, and it starts and empties fastest);
- `@pytest.mark.both_databases`: on SQLite and on PostgreSQL, for what depends on the
  storage (queries, constraints, transactions and concurrency, migrations, the audit chain,
  backup, ids and dates at the database's limits);
- `@pytest.mark.postgresql`: on PostgreSQL alone, for the production paths SQLite cannot
  play (several server processes on one database, truly concurrent writers).

Integration tests commit for real (the server under test runs concurrent requests on
separate connections), so instead of rolling each test back, every table is emptied after
the test: the same isolation, with real transactions.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

# Cheaper password hashing for the many accounts tests create (still real Argon2id): the
# lowest cost the setting allows, for the commands tests run (see also `argon2_for_tests`).
os.environ.setdefault("TELEHEALTH_ARGON2_MEMORY_KIB", "8192")
# The audit chain's key, for the server under test and for every command it runs.
os.environ.setdefault("TELEHEALTH_AUDIT_KEY", "test-audit-key-" + "k" * 32)

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.db import make_engine, make_sessionmaker, metadata
from telehealth.migrate import upgrade

PG_BASE = os.environ.get(
    "TELEHEALTH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
CI = os.environ.get("CI") == "true"
BACKENDS = ["sqlite", "postgresql"]


def databases_for(definition: pytest.Function) -> list[str]:
    """The databases a test runs on, from its markers (see the module's docstring); the
    closest marker wins (a test's own over its module's)."""
    for marker in definition.iter_markers():
        if marker.name == "both_databases":
            return BACKENDS
        if marker.name == "postgresql":
            return ["postgresql"]
    return ["sqlite"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", databases_for(metafunc.definition), indirect=True)


def _pg_reachable() -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(PG_BASE)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def argon2_for_tests() -> Iterator[None]:
    """Argon2id at 1 MiB and one pass in this process: the suite makes thousands of accounts
    and sign-ins, and at the setting's floor (8 MiB, kept for every real deployment) they
    cost about 8 ms of CPU each, 0.5 ms here. Still real Argon2id hashes; a hash carries its
    own parameters, so the few tests that store production-cost hashes verify them at that
    cost. The dummy hash for unknown usernames gets the same cost, so a known and an unknown
    name still take the same work."""
    from argon2 import PasswordHasher

    from telehealth.auth import passwords

    cheap = PasswordHasher(memory_cost=1024, time_cost=1, parallelism=1)
    patch = pytest.MonkeyPatch()
    patch.setattr(passwords, "_hasher", cheap)
    patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("telehealth-timing-equaliser"))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
async def pg_database() -> AsyncIterator[str | None]:
    """A database of its own for this test session, migrated, dropped at the end."""
    if not _pg_reachable():
        message = f"PostgreSQL is not reachable at {PG_BASE}"
        if CI:
            pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
        yield None
        return
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(PG_BASE)
    name = f"th_test_{uuid.uuid4().hex[:10]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    await admin(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    # Alembic's env runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade, url)
    yield url
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgresql", chosen by the test's markers (pytest_generate_tests)."""
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, sqlite_template: Path, pg_database: str | None
) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path / "db.sqlite3"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if pg_database is None:
        pytest.skip(f"PostgreSQL is not reachable at {PG_BASE}")
    url = pg_database
    yield url
    engine = make_engine(url)
    async with engine.begin() as conn:
        # DELETE is much faster than TRUNCATE on tables this small.
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())
    await engine.dispose()


def _start_time() -> datetime:
    """Now, or TELEHEALTH_TEST_NOW (ISO 8601, UTC) to run the suite at an awkward hour.

    CI runs whenever someone pushes: `TELEHEALTH_TEST_NOW=2026-11-28T00:01:00Z make pytest`
    shows what breaks just after midnight UTC (still the evening before in the Americas).
    """
    pinned = os.environ.get("TELEHEALTH_TEST_NOW")
    if pinned:
        return datetime.fromisoformat(pinned).astimezone(UTC)
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class FakeClock:
    """The server's clock, movable by tests (idle logoff, join windows, lockouts)."""

    now: datetime = field(default_factory=lambda: _start_time())

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)

    def set(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def port() -> int:
    from tests.builders import free_port

    return free_port()


@pytest.fixture
def settings(database_url: str, tmp_path: Path, port: int) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key="test-secret-key-" + "x" * 32,
        audit_key=os.environ["TELEHEALTH_AUDIT_KEY"],
        host="127.0.0.1",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
    )


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.sqlalchemy_url)
    yield make_sessionmaker(engine, audit_key=settings.chain_key())
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> web.Application:
    return create_app(settings, clock=clock)


@pytest.fixture
async def server(app: web.Application, port: int) -> AsyncIterator[TestServer]:
    """The app on a real socket at settings.public_url (join links point at it)."""
    srv = TestServer(app, host="127.0.0.1", port=port)
    await srv.start_server()
    yield srv
    await srv.close()


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(server) as c:
        yield c


@pytest.fixture
async def new_client(server: TestServer) -> AsyncIterator[Any]:
    """Factory for more browsers (each with its own cookie jar)."""
    clients: list[TestClient[Any, Any]] = []

    async def make() -> TestClient[Any, Any]:
        c: TestClient[Any, Any] = TestClient(server)
        await c.start_server()
        clients.append(c)
        return c

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def coturn(tmp_path: Path) -> AsyncIterator[Any]:
    """A real coturn from deploy/turnserver.conf on loopback: UDP and TCP on `port`, TLS on
    `tls_port` with a self-signed certificate for 127.0.0.1 (tmp_path/turn-cert.pem)."""
    from tests.coturn import make_certificate, start_coturn

    relay = await start_coturn(tmp_path, tls=make_certificate(tmp_path, "127.0.0.1"))
    try:
        yield relay
    finally:
        relay.stop()


from tests.builders import *  # noqa: E402, F403  (fixtures and builders shared by every test)
