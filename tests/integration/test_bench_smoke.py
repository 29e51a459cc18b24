"""`make bench` still starts: its two baseline servers answer (no timing is asserted; the
benchmark itself is not a test)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.builders import free_port
from tests.waiting import eventually

BENCH = Path(__file__).resolve().parents[2] / "bench"
PG = os.environ.get(
    "TELEHEALTH_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
).replace("postgresql+asyncpg://", "postgresql://")


async def _answers(args: list[str], url: str) -> bytes:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def get() -> bytes | None:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                return bytes(response.read())
        except OSError:
            return None

    try:
        return await eventually(lambda: asyncio.to_thread(get), timeout=10, what=f"{url} answers")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_the_bare_aiohttp_baseline_starts():
    port = free_port()
    body = await _answers(
        [sys.executable, str(BENCH / "bare_server.py"), PG, str(port)],
        f"http://127.0.0.1:{port}/healthz",
    )
    assert body == b'{"status": "ok"}'


async def test_the_node_socketio_baseline_starts():
    if not (BENCH / "node_modules" / "socket.io").is_dir():
        pytest.skip("bench/node_modules is not installed (make bench installs it)")
    port = free_port()
    body = await _answers(
        ["node", str(BENCH / "signal_server.js"), str(port)],
        f"http://127.0.0.1:{port}/",
    )
    assert body == b'{"status":"ok"}'
