"""Benchmark: password guessing must not stall signed-in users.

The server runs as its own process with production's Argon2 cost (64 MiB, t=3). One
signed-in client reads GET /api/me one request after another, alone (the baseline) and
while 12 clients post wrong passwords as fast as the server answers them, in alternating
slices (four of each). Two attacks, each in the same run as its baseline, on SQLite and PostgreSQL:

- "one address": the 12 clients from one address, all guessing one unknown username
  (the review's attack; the throttle stops it after a handful of checks);
- "12 addresses, no throttle": the 12 clients from 12 loopback addresses, each guessing its
  own existing account, with the throttle's limits raised so every guess is a full Argon2
  check for the whole run: what the hashing pool alone must absorb.

Pass: the reader's median within 2x and its p99 within 5x of its baseline.

    .venv/bin/python bench/sign_in.py [--seconds 8] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PASSWORD, ROOT, cli, free_port, login, pg_url, wait_ready

ATTACKERS = 12
ROUNDS = 4
MAX_READS = 100_000


@dataclass
class Row:
    backend: str
    scenario: str
    reads: int
    p50_ms: float
    p99_ms: float
    guesses: dict[int, int]
    errors: int = 0
    base_p50_ms: float = 0.0
    base_p99_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            not self.errors
            and self.p50_ms <= 2 * self.base_p50_ms
            and self.p99_ms <= 5 * self.base_p99_ms
        )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def read_me(
    session: aiohttp.ClientSession, base: str, seconds: float
) -> tuple[list[float], int]:
    """Latencies (ms) of reads one after another, and how many did not answer 200."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline and len(latencies) < MAX_READS:
        started = time.perf_counter()
        async with session.get(base + "/api/me") as r:
            await r.read()
            errors += r.status != 200
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, errors


async def guess(
    base: str, address: str, username: str, stop: asyncio.Event, statuses: dict[int, int]
) -> None:
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as s:
        n = 0
        while not stop.is_set():
            n += 1
            async with s.post(
                base + "/api/session", json={"username": username, "password": f"guess {n}"}
            ) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1


async def scenario(
    backend: str, url: str, seconds: float, *, name: str, spread: bool
) -> tuple[Row, Row]:
    port = free_port()
    env = {
        **os.environ,
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_PORT": str(port),
        "TELEHEALTH_DATA_DIR": tempfile.mkdtemp(prefix="th-bench-"),
        "TELEHEALTH_SECRET_KEY": "b" * 48,
        "TELEHEALTH_LOG_LEVEL": "WARNING",
        "TELEHEALTH_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("TELEHEALTH_ARGON2_MEMORY_KIB", None)  # production's cost
    if spread:
        env["TELEHEALTH_MAX_FAILED_LOGINS"] = "100"
        env["TELEHEALTH_ADDRESS_MAX_FAILED_LOGINS"] = "10000"
        env["TELEHEALTH_USERNAME_MAX_FAILED_LOGINS"] = "10000"
    cli(env, "db", "upgrade")
    users = ["bench.reader"] + ([f"bench.target{i}" for i in range(ATTACKERS)] if spread else [])
    for username in users:
        cli(env, "user", "create", "--username", username, "--role", "scheduler",
            "--password", PASSWORD)  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "telehealth", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, proc)
        reader = await login(base, "bench.reader")
        await read_me(reader, base, 1.0)  # warm up
        # Alone and attacked in alternating slices, so that a change in the machine's
        # other load during the run falls on both alike.
        alone: list[float] = []
        attacked: list[float] = []
        alone_errors = errors = 0
        statuses: dict[int, int] = {}
        for _ in range(ROUNDS):
            got, bad = await read_me(reader, base, seconds / ROUNDS)
            alone += got
            alone_errors += bad
            stop = asyncio.Event()
            attackers = [
                asyncio.create_task(
                    guess(
                        base,
                        f"127.0.0.{10 + i}" if spread else "127.0.0.2",
                        f"bench.target{i}" if spread else "no.such.user",
                        stop,
                        statuses,
                    )
                )
                for i in range(ATTACKERS)
            ]
            await asyncio.sleep(0.3)  # let the attack get going
            got, bad = await read_me(reader, base, seconds / ROUNDS)
            attacked += got
            errors += bad
            stop.set()
            await asyncio.gather(*attackers)
        await reader.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    baseline = Row(
        backend,
        "GET /api/me alone",
        len(alone),
        statistics.median(alone),
        percentile(alone, 0.99),
        {},
        alone_errors,
    )
    under = Row(
        backend,
        f"GET /api/me, 12 clients guessing ({name})",
        len(attacked),
        statistics.median(attacked),
        percentile(attacked, 0.99),
        statuses,
        errors,
        baseline.p50_ms,
        baseline.p99_ms,
    )
    return baseline, under


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    rows: list[Row] = []
    backends: list[tuple[str, str]] = []
    tmp = tempfile.mkdtemp(prefix="th-bench-sqlite-")
    pg = await pg_url()
    for name, spread in (("one address", False), ("12 addresses, no throttle", True)):
        backends = [("sqlite", f"sqlite+aiosqlite:///{tmp}/{int(spread)}.sqlite3")]
        if pg is not None:
            backends.append(("postgresql", pg[0]))
        for backend, url in backends:
            if backend == "postgresql" and spread:
                # A fresh database: the first scenario's accounts are in the other one.
                fresh = await pg_url()
                assert fresh is not None
                url = fresh[0]
            rows += await scenario(backend, url, args.seconds, name=name, spread=spread)
    if pg is None:
        print("PostgreSQL is not reachable: measured SQLite only.", file=sys.stderr)
    table = render(rows, args.seconds)
    print(table)
    if args.write:
        write_doc(table)
    return 0 if all(r.passed for r in rows if r.base_p50_ms) else 1


def render(rows: list[Row], seconds: float) -> str:
    lines = [
        "| backend | scenario | reads | not 200 | p50 ms | p99 ms | vs alone (p50, p99) "
        "| guesses answered |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        versus = (
            f"{r.p50_ms / r.base_p50_ms:.2f}x, {r.p99_ms / r.base_p99_ms:.2f}x "
            f"({'pass' if r.passed else 'FAIL'})"
            if r.base_p50_ms
            else "baseline"
        )
        guesses = ", ".join(f"{k}: {v}" for k, v in sorted(r.guesses.items()))
        lines.append(
            f"| {r.backend} | {r.scenario} | {r.reads} | {r.errors} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | "
            f"{versus} | {guesses} |"
        )
    head = (
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; one server process "
        f"with production's Argon2 cost; {seconds:g} s of reads per row. Pass: p50 within "
        "2x and p99 within 5x of the same run's reads alone."
    )
    return head + "\n\n" + "\n".join(lines)


def write_doc(table: str) -> None:
    path = ROOT / "docs" / "performance.md"
    text = path.read_text()
    start, end = "<!-- sign-in:start -->", "<!-- sign-in:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text.split(start)[0] + block + text.split(end)[1]
    else:
        text = text + "\n" + block + "\n"
    path.write_text(text)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
