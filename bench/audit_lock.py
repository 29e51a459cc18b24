"""How long each transaction holds the audit chain's head locked, under load.

The server runs in this process (so the measurement hook in telehealth.audit, LOCK_TIMES,
can be read): from just before the statement that locks the head (UPDATE audit_head ...
RETURNING) until its transaction's COMMIT returns. 16 clients read an audited record and
book visits for a few seconds, on SQLite and on PostgreSQL. Results: docs/performance.md.

    .venv/bin/python bench/audit_lock.py [--seconds 4] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PASSWORD, cli, free_port, login, measure, pg_url, seed

from telehealth import audit
from telehealth.app import create_app
from telehealth.audit import LOCK_TIMES
from telehealth.config import Settings
from telehealth.migrate import upgrade

AUDIT_KEY = "bench-audit-key-" + "a" * 32


async def run_backend(
    backend: str, url: str, seconds: float, concurrency: int, separately: bool = False
) -> str:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="th-bench-lock-")
    settings = Settings(
        database_url=url,
        data_dir=Path(data_dir),
        secret_key="b" * 48,
        audit_key=AUDIT_KEY,
        port=port,
        log_level="WARNING",
    )
    env = {
        **os.environ,
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_DATA_DIR": data_dir,
        "TELEHEALTH_AUDIT_KEY": AUDIT_KEY,
    }
    await asyncio.to_thread(upgrade, url)
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
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        ids = await seed(base, concurrency)
        sched = await login(base, "bench.sched")
        dr = await login(base, "bench.dr")
        start = datetime.combine(
            date.today() + timedelta(days=2), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=1)
        async with sched.post(base + "/api/visits", json=booking(ids, 0, start)) as r:
            assert r.status == 201, await r.text()
            visit_id = (await r.json())["id"]

        async def read(w: int, i: int) -> int:
            async with dr.get(f"{base}/api/visits/{visit_id}") as r:
                await r.read()
                return r.status

        slot0 = start + timedelta(days=1)

        async def book(w: int, i: int) -> int:
            when = slot0 + timedelta(minutes=30 * i)
            async with sched.post(base + "/api/visits", json=booking(ids, w, when)) as r:
                await r.read()
                return r.status

        LOCK_TIMES.recent.clear()
        LOCK_TIMES.waits.clear()
        LOCK_TIMES.count, LOCK_TIMES.longest = 0, 0.0
        at_once = audit._write_at_once
        if separately:  # for comparison: INSERT, then UPDATE the head, as SQLite does
            audit._write_at_once = audit._write_separately  # type: ignore[assignment]
        try:
            reads = await measure(backend, "read", seconds, concurrency, read)
            books = await measure(backend, "book", seconds, concurrency, book)
        finally:
            audit._write_at_once = at_once  # type: ignore[assignment]
        for s in (sched, dr):
            await s.close()
    finally:
        await runner.cleanup()
    held = sorted(t * 1000 for t in LOCK_TIMES.recent)
    waits = sorted(t * 1000 for t in LOCK_TIMES.waits)
    how = "3 statements" if separately or backend == "sqlite" else "2 statements"
    return (
        f"| {backend} | {how} | {len(held)} | {statistics.median(held):.2f} | "
        f"{pct(held, 0.99):.2f} | {max(held):.2f} | {statistics.median(waits):.2f} | "
        f"{pct(waits, 0.99):.2f} | "
        f"{reads.rate:,.0f} | {books.rate:,.0f} |"
    )


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def booking(ids: dict[str, Any], w: int, when: datetime) -> dict[str, Any]:
    return {
        "patient_id": ids["patients"][w],
        "prescriber_id": ids["prescriber"],
        "start": when.isoformat(),
        "visit_type": "follow_up",
        "modality": "in_person",
    }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        rows.append(await run_backend("sqlite", url, args.seconds, args.concurrency))
    # PostgreSQL: INSERT and head link in one statement against two, alternately, each
    # on a fresh database (the machine's load varies from run to run).
    for separately in (False, True, False, True):
        pg = await pg_url()
        if pg is None:
            print("PostgreSQL is not reachable: measured SQLite only.", file=sys.stderr)
            break
        url, dsn, name = pg
        try:
            rows.append(
                await run_backend("postgresql", url, args.seconds, args.concurrency, separately)
            )
        finally:
            import asyncpg

            conn = await asyncpg.connect(dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()
    print(
        f"{args.concurrency} clients, {args.seconds:g} s audited reads then {args.seconds:g} s "
        "bookings; chain head held from the locking UPDATE's return to COMMIT's return, and "
        "waited for (the UPDATE):\n"
    )
    print(
        "| backend | statements holding the head | transactions | held p50 ms | held p99 ms | "
        "held longest ms | wait p50 ms | wait p99 ms | reads/s | bookings/s |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"\nload average before the run: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
