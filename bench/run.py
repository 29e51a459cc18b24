"""Benchmarks: the server as a real subprocess, load from this process, on loopback only.

Each scenario is measured against baselines in the same run (a request that touches no
database, and an authenticated request that writes no audit entry), on SQLite and on
PostgreSQL. Loops are bounded in time and count. Results go to stdout and to
docs/performance.md (--write).

    .venv/bin/python bench/run.py [--seconds 4] [--concurrency 16] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get(
    "TELEHEALTH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "bench-password-1"
MAX_REQUESTS = 200_000


@dataclass
class Result:
    backend: str
    scenario: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "telehealth", *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )


async def wait_ready(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError("server exited during start-up")
            try:
                async with s.get(url + "/readyz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


async def login(base: str, username: str) -> aiohttp.ClientSession:
    s = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with s.post(
        base + "/api/session", json={"username": username, "password": PASSWORD}
    ) as r:
        assert r.status == 200, await r.text()
    return s


async def seed(base: str, n_patients: int) -> dict[str, Any]:
    admin = await login(base, "bench.admin")
    ids: dict[str, Any] = {"patients": []}
    npi_base = 100000000 + (uuid.uuid4().int % 800000000)

    def npi(first_nine: int) -> str:
        from telehealth.auth.npi import npi_with_check_digit

        return npi_with_check_digit(str(first_nine))

    async def create(body: dict[str, Any]) -> int:
        async with admin.post(base + "/api/users", json=body) as r:
            assert r.status == 201, await r.text()
            return int((await r.json())["id"])

    ids["scheduler"] = await create(
        {
            "username": "bench.sched",
            "role": "scheduler",
            "full_name": "Bench Scheduler",
            "password": PASSWORD,
        }
    )
    ids["prescriber"] = await create(
        {
            "username": "bench.dr",
            "role": "prescriber",
            "full_name": "Dr Bench",
            "password": PASSWORD,
            "credential": "MD",
            "npi": npi(npi_base),
            "licensed_states": ["NY"],
            "timezone": "UTC",
        }
    )
    for i in range(n_patients):
        ids["patients"].append(
            await create(
                {
                    "username": f"bench.p{i}",
                    "role": "patient",
                    "full_name": f"Patient {i}",
                    "date_of_birth": "1980-01-01",
                    "state": "NY",
                    "timezone": "UTC",
                }
            )
        )
    await admin.close()
    sched = await login(base, "bench.sched")
    weekly = [{"weekday": d, "start": "00:00", "end": "23:55"} for d in range(7)]
    async with sched.put(
        f"{base}/api/prescribers/{ids['prescriber']}/availability",
        json={"weekly": weekly, "exceptions": []},
    ) as r:
        assert r.status == 200, await r.text()
    await sched.close()
    return ids


async def measure(
    backend: str, scenario: str, seconds: float, concurrency: int, make_request: Any
) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    counter = 0

    async def worker(w: int) -> None:
        nonlocal counter
        while time.perf_counter() < deadline and counter < MAX_REQUESTS:
            counter += 1
            started = time.perf_counter()
            status = await make_request(w, counter)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(
        backend,
        scenario,
        len(latencies),
        elapsed,
        statistics.median(latencies) if latencies else 0.0,
        latencies[int(len(latencies) * 0.95)] if latencies else 0.0,
        statuses,
    )


async def run_backend(backend: str, url: str, seconds: float, concurrency: int) -> list[Result]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="th-bench-")
    env = {
        **os.environ,
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_PORT": str(port),
        "TELEHEALTH_DATA_DIR": data_dir,
        "TELEHEALTH_SECRET_KEY": "b" * 48,
        "TELEHEALTH_LOG_LEVEL": "WARNING",
        "TELEHEALTH_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    cli(env, "db", "upgrade")
    cli(
        env,
        "user",
        "create",
        "--username",
        "bench.admin",
        "--role",
        "admin",
        "--password",
        PASSWORD,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "telehealth", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results: list[Result] = []
    try:
        await wait_ready(base, proc)
        ids = await seed(base, n_patients=concurrency)
        sched = await login(base, "bench.sched")
        dr = await login(base, "bench.dr")
        anon = aiohttp.ClientSession()

        async def get(session: aiohttp.ClientSession, path: str) -> int:
            async with session.get(base + path) as r:
                await r.read()
                return r.status

        results.append(
            await measure(
                backend,
                "GET /healthz (no database; baseline)",
                seconds,
                concurrency,
                lambda w, i: get(anon, "/healthz"),
            )
        )
        results.append(
            await measure(
                backend,
                "GET /api/me (session, no audit; baseline)",
                seconds,
                concurrency,
                lambda w, i: get(dr, "/api/me"),
            )
        )
        # Book one visit to read, then the audited read.
        start = datetime.combine(
            date.today() + timedelta(days=2), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=1)
        async with sched.post(
            base + "/api/visits",
            json={
                "patient_id": ids["patients"][0],
                "prescriber_id": ids["prescriber"],
                "start": start.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        ) as r:
            assert r.status == 201, await r.text()
            visit_id = (await r.json())["id"]
        results.append(
            await measure(
                backend,
                "GET /api/visits/{id} (audited read)",
                seconds,
                concurrency,
                lambda w, i: get(dr, f"/api/visits/{visit_id}"),
            )
        )

        # Distinct slots: each request books a different 30-minute slot for its own patient.
        slot0 = start + timedelta(days=1)

        async def book(w: int, i: int) -> int:
            when = slot0 + timedelta(minutes=30 * i)
            async with sched.post(
                base + "/api/visits",
                json={
                    "patient_id": ids["patients"][w],
                    "prescriber_id": ids["prescriber"],
                    "start": when.isoformat(),
                    "visit_type": "follow_up",
                    "modality": "in_person",
                },
            ) as r:
                await r.read()
                return r.status

        results.append(
            await measure(backend, "POST /api/visits (distinct slots)", seconds, concurrency, book)
        )

        # Contention: 50 requests at once for one slot; exactly one may win.
        contested = slot0 - timedelta(hours=12)

        async def contend(w: int, i: int) -> int:
            async with sched.post(
                base + "/api/visits",
                json={
                    "patient_id": ids["patients"][w % len(ids["patients"])],
                    "prescriber_id": ids["prescriber"],
                    "start": contested.isoformat(),
                    "visit_type": "follow_up",
                    "modality": "in_person",
                },
            ) as r:
                await r.read()
                return r.status

        t0 = time.perf_counter()
        statuses = await asyncio.gather(*(contend(w, w) for w in range(50)))
        elapsed = time.perf_counter() - t0
        counts: dict[int, int] = {}
        for s in statuses:
            counts[s] = counts.get(s, 0) + 1
        results.append(
            Result(
                backend, "50 concurrent POST /api/visits, one slot", 50, elapsed, 0.0, 0.0, counts
            )
        )
        for s in (sched, dr, anon):
            await s.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    return results


async def pg_url() -> tuple[str, str, str] | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    base = make_url(PG_BASE)
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"th_bench_{uuid.uuid4().hex[:8]}"
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return None
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return base.set(database=name).render_as_string(hide_password=False), dsn, name


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        results += await run_backend(
            "sqlite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite3", args.seconds, args.concurrency
        )
    pg = await pg_url()
    if pg is None:
        print("PostgreSQL is not reachable: measured SQLite only.", file=sys.stderr)
    else:
        url, dsn, name = pg
        try:
            results += await run_backend("postgresql", url, args.seconds, args.concurrency)
        finally:
            import asyncpg

            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    table = render(results, args)
    print(table)
    if args.write:
        write_doc(table)
    return 0


def render(results: list[Result], args: argparse.Namespace) -> str:
    lines = [
        "| backend | scenario | requests | req/s | p50 ms | p95 ms | statuses |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items()))
        if r.p50_ms:
            lines.append(
                f"| {r.backend} | {r.scenario} | {r.requests} | {r.rate:,.0f} | "
                f"{r.p50_ms:.1f} | {r.p95_ms:.1f} | {statuses} |"
            )
        else:
            lines.append(
                f"| {r.backend} | {r.scenario} | {r.requests} | all in "
                f"{r.seconds * 1000:.0f} ms | | | {statuses} |"
            )
    head = (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; one server process; "
        f"{args.concurrency} concurrent clients, {args.seconds:g} s per scenario."
    )
    return head + "\n\n" + "\n".join(lines)


def write_doc(table: str) -> None:
    path = ROOT / "docs" / "performance.md"
    text = path.read_text() if path.exists() else ""
    marker_start, marker_end = "<!-- bench:start -->", "<!-- bench:end -->"
    block = f"{marker_start}\n{table}\n{marker_end}"
    if marker_start in text:
        before = text.split(marker_start)[0]
        after = text.split(marker_end)[1]
        text = before + block + after
    else:
        text = text + "\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
