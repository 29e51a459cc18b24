"""`make bench`: the platform against bare baselines on this machine, in the same run.

HTTP: wrk (Debian package) with 32 connections against GET /healthz, GET /api/me and
GET /api/visits/{id} (an audited read), on the platform and on bench/bare_server.py (bare
aiohttp + asyncpg doing the same queries), both on the same PostgreSQL database.
Signaling: bench/signal_load.js (socket.io-client) relaying ~1 KiB signals every 100 ms per
participant at 50 and 200 visits, against the platform and bench/signal_server.js (Node
Socket.IO). Servers are pinned to core 0 and the load to core 1 (taskset) when the machine
has two cores or more. Prints ratios; --write puts the table into docs/performance.md.

    .venv/bin/python bench/ratios.py [--seconds 10] [--write] [--only http|signaling]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PG_BASE = os.environ.get("TELEHEALTH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
CONNECTIONS = 32
PATHS = ["/healthz", "/api/me", "/api/visits/{id}"]
SIGNAL_VISITS = [50, 200]


def pinned(core: int) -> list[str]:
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core)]
    return []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 (loopback)
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


@contextmanager
def server(args: list[str], url: str, env: dict[str, str] | None = None) -> Any:
    proc = subprocess.Popen(
        [*pinned(0), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_http(url, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def database() -> tuple[str, str]:
    """A fresh database: (SQLAlchemy URL, asyncpg DSN)."""
    import asyncpg

    name = f"th_bench_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(PG_BASE)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()

    asyncio.run(create())
    dsn = PG_BASE.rsplit("/", 1)[0] + "/" + name
    return dsn.replace("postgresql://", "postgresql+asyncpg://"), dsn


def drop(dsn: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(PG_BASE)
        await conn.execute(f'DROP DATABASE IF EXISTS "{dsn.rsplit("/", 1)[1]}" WITH (FORCE)')
        await conn.close()

    asyncio.run(go())


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (100 a second)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def wrk(url: str, seconds: float, token: str | None, pid: int | None = None) -> dict[str, Any]:
    cmd = [*pinned(1), "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds:g}s", "--latency"]
    if token:
        cmd += ["-H", f"Cookie: th_session={token}"]
    before = cpu_ticks(pid) if pid else 0
    out = subprocess.run(
        [*cmd, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout
    ticks = cpu_ticks(pid) - before if pid else 0
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    assert p99 is not None, out
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * scale,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
        # Server CPU per request: steadier than req/s on a shared machine.
        "cpu_us": ticks * 10_000 / requests if requests else 0.0,
    }


def signal_load(url: str, visits: list[int], tokens: Any, pid: int, seconds: float) -> Any:
    config = {"url": url, "visits": visits, "tokens": tokens, "seconds": seconds, "pid": pid}
    done = subprocess.run(
        [*pinned(1), "node", str(BENCH / "signal_load.js"), json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=seconds + 300,
        cwd=BENCH,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def platform_env(url: str, port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "TELEHEALTH_DATABASE_URL": url,
        "TELEHEALTH_PORT": str(port),
        "TELEHEALTH_DATA_DIR": tempfile.mkdtemp(prefix="th-bench-"),
        "TELEHEALTH_SECRET_KEY": "b" * 48,
        "TELEHEALTH_LOG_LEVEL": "WARNING",
        "TELEHEALTH_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    if os.environ.get("BENCH_REDIS_URL"):
        env["TELEHEALTH_REDIS_URL"] = os.environ["BENCH_REDIS_URL"]
    return env


def run(seconds: float, only: str | None) -> dict[str, Any]:
    if only != "signaling" and shutil.which("wrk") is None:
        sys.exit("wrk is missing: sudo apt-get install wrk (make bench installs it as root).")
    if only != "http" and not (BENCH / "node_modules" / "socket.io").is_dir():
        sys.exit("bench/node_modules is missing: cd bench && npm ci (make bench does it).")
    url, dsn = database()
    results: dict[str, Any] = {"http": {}, "signaling": {}}
    try:
        port = free_port()
        env = platform_env(url, port)
        py = sys.executable
        subprocess.run([py, "-m", "telehealth", "db", "upgrade"], env=env, check=True)
        seeded = json.loads(
            subprocess.run(
                [py, str(BENCH / "seed.py"), url, str(1 + sum(SIGNAL_VISITS))],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        visit = seeded["visits"][0]
        token = seeded["prescriber_token"]
        base = f"http://127.0.0.1:{port}"
        with server([py, "-m", "telehealth", "serve"], base + "/readyz", env) as proc:
            if only in (None, "http"):
                bare_port = free_port()
                bare = f"http://127.0.0.1:{bare_port}"
                with server(
                    [py, str(BENCH / "bare_server.py"), dsn, str(bare_port)], bare + "/healthz"
                ) as bare_proc:
                    for path in PATHS:
                        p = path.format(id=visit)
                        # Warm both, then measure the baseline and the platform back to back.
                        wrk(bare + p, 1, token)
                        wrk(base + p, 1, token)
                        results["http"][path] = {
                            "bare": wrk(bare + p, seconds, token, bare_proc.pid),
                            "platform": wrk(base + p, seconds, token, proc.pid),
                        }
                        print(path, json.dumps(results["http"][path]), flush=True)
            if only in (None, "signaling"):
                node_port = free_port()
                node = f"http://127.0.0.1:{node_port}"
                tokens = {
                    "patient": seeded["patient_token"],
                    "prescriber": seeded["prescriber_token"],
                }
                offset = 1
                for n in SIGNAL_VISITS:
                    ids = seeded["visits"][offset : offset + n]
                    offset += n
                    with server(
                        ["node", str(BENCH / "signal_server.js"), str(node_port)], node
                    ) as np:
                        node_result = signal_load(node, ids, None, np.pid, seconds)
                    ours = signal_load(base, ids, tokens, proc.pid, seconds)
                    results["signaling"][n] = {"node": node_result, "platform": ours}
                    print(n, "visits", json.dumps(results["signaling"][n]), flush=True)
    finally:
        drop(dsn)
    return results


def render(results: dict[str, Any], seconds: float) -> str:
    load = os.getloadavg()
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL; servers on core 0, load on core 1; "
        f"{seconds:g} s per measurement; load average at the end {load[0]:.1f}.",
        "",
        f"HTTP, wrk, {CONNECTIONS} connections:",
        "",
        "| path | platform req/s | p99 ms | CPU µs/req | bare req/s | p99 ms | CPU µs/req "
        "| rate ratio | p99 ratio | CPU ratio (bare/platform) | goal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    goals = {"/healthz": 0.6, "/api/me": 0.5, "/api/visits/{id}": 0.4}
    for path, r in results["http"].items():
        ours, bare = r["platform"], r["bare"]
        ratio = ours["rate"] / bare["rate"]
        p99 = ours["p99_ms"] / bare["p99_ms"]
        met = ratio >= goals[path] and p99 <= 2
        bad = ours["non_2xx"] + bare["non_2xx"]
        lines.append(
            f"| {path} | {ours['rate']:,.0f} | {ours['p99_ms']:.1f} | {ours['cpu_us']:.0f} | "
            f"{bare['rate']:,.0f} | {bare['p99_ms']:.1f} | {bare['cpu_us']:.0f} | {ratio:.2f}x | "
            f"{p99:.1f}x | {bare['cpu_us'] / max(ours['cpu_us'], 1):.2f}x | "
            f">= {goals[path]}x, p99 <= 2x: "
            f"{'met' if met else 'NOT met'}{f' ({bad} non-2xx!)' if bad else ''} |"
        )
    if results["signaling"]:
        lines += [
            "",
            "Signaling, ~1 KiB signal every 100 ms per participant (two per visit):",
            "",
            "| visits | server | msg/s | lost | p50 ms | p99 ms | CPU ms/msg | core used "
            "| KiB/idle participant |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for n, r in results["signaling"].items():
            for who in ("node", "platform"):
                s = r[who]
                lines.append(
                    f"| {n} | {who} | {s['rate']:,.0f} | {s['lost']} | {s['p50_ms']:.1f} | "
                    f"{s['p99_ms']:.1f} | {s['cpu_ms_per_message']:.3f} | "
                    f"{s['cpu_share'] * 100:.0f}% | {s['idle_kib_per_participant']:.1f} |"
                )
            ours, node = r["platform"], r["node"]
            memory = ours["idle_kib_per_participant"] / max(node["idle_kib_per_participant"], 0.1)
            lines.append(
                f"| {n} | **ratio** | | {ours['lost']} lost | | "
                f"{ours['p99_ms'] / node['p99_ms']:.1f}x | "
                f"{ours['cpu_ms_per_message'] / node['cpu_ms_per_message']:.1f}x | | "
                f"{memory:.1f}x |"
            )
        lines += [
            "",
            "Goals at 200 visits: nothing lost, p99 <= 3x Node, CPU/msg <= 2x Node, "
            "memory per idle participant <= 2x Node.",
        ]
    return "\n".join(lines)


def write_doc(table: str) -> None:
    path = ROOT / "docs" / "performance.md"
    text = path.read_text()
    start, end = "<!-- ratios:start -->", "<!-- ratios:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text.split(start)[0] + block + text.split(end)[1]
    else:
        text += "\n" + block + "\n"
    path.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["http", "signaling"])
    parser.add_argument("--visits", type=int, nargs="*", help="signaling sizes (50 200)")
    parser.add_argument("--write", action="store_true", help="update docs/performance.md")
    args = parser.parse_args()
    if args.visits:
        SIGNAL_VISITS[:] = args.visits
    results = run(args.seconds, args.only)
    out = BENCH / "results"
    out.mkdir(exist_ok=True)
    (out / f"{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(results, indent=1))
    table = render(results, args.seconds)
    print(table)
    if args.write:
        write_doc(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
