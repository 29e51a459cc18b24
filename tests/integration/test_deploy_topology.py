"""The production topology from deploy/, run for real on loopback: nginx (TLS with a test
certificate) rendered from deploy/nginx-site.conf.template with deploy/nginx-http.conf, two
`telehealth serve` processes started from the ExecStart of deploy/telehealth@.service with
the settings of deploy/telehealth.env.example (addresses, secrets and paths overridden),
sharing PostgreSQL and Redis, and coturn from deploy/turnserver.conf. A whole visit runs
through it (join, check-in, admit, video both ways through TURN); then the process one
participant is on is killed and the call goes on through the other."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from string import Template
from typing import Any

import aiohttp
import pytest

from tests.builders import Cast, VisitsSocket, free_port, make_visit, session_token
from tests.coturn import ROOT, Coturn, make_certificate
from tests.integration.test_signaling_redis import REDIS_URL, _redis_reachable
from tests.peers import CallPeer, check_in_and_admit, end_and_tell, selected_pair
from tests.waiting import eventually

# Production runs on PostgreSQL: this topology (two processes on one database) is tested on
# it alone.
pytestmark = [pytest.mark.timeout(90), pytest.mark.postgresql]

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SITE_VARIABLES = ("DOMAIN", "HTTPS_PORT", "HTTP_PORT", "TLS_CERT", "TLS_KEY", "APP_1", "APP_2")


def _require(condition: bool, message: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def exec_start(unit: Path, instance: str) -> list[str]:
    """The unit's ExecStart, with %i and the install path (/opt/telehealth) filled in."""
    (line,) = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    command = line.removeprefix("ExecStart=").replace("%i", instance)
    command = command.replace(
        "/opt/telehealth/.venv/bin/telehealth", f"{sys.executable} -m telehealth"
    )
    return shlex.split(command)


@dataclass
class Topology:
    url: str
    ssl: ssl.SSLContext
    processes: list[subprocess.Popen[bytes]]
    coturn: Coturn


async def _wait_for_http(
    url: str, process: subprocess.Popen[bytes], log: Path, session: aiohttp.ClientSession
) -> None:
    """Until `url` answers 200 (the process exiting first fails at once, with its log)."""

    async def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited: {log.read_text()[-2000:]}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as response:
                return response.status == 200
        return False

    await eventually(answers, timeout=30, what=f"{url} answers")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def topology(settings: Any, tmp_path: Path, coturn: Coturn) -> AsyncIterator[Topology]:
    _require(Path(NGINX).exists(), "nginx is not installed; scripts/system-deps.sh installs it")
    _require(_redis_reachable(), f"Redis is not reachable at {REDIS_URL}")
    cert, key = make_certificate(tmp_path, "127.0.0.1", "localhost")
    https_port, http_port = free_port(), free_port()
    app_ports = [free_port(), free_port()]
    url = f"https://127.0.0.1:{https_port}"

    # The app processes: deploy/telehealth.env.example, pointed at this machine's test
    # services; nothing of the example's outside addresses may remain.
    env = env_file(DEPLOY / "telehealth.env.example")
    env.update(
        TELEHEALTH_SECRET_KEY="topology-test-secret-" + "k" * 40,
        TELEHEALTH_DATABASE_URL=settings.database_url,
        TELEHEALTH_DATA_DIR=str(tmp_path),
        TELEHEALTH_PUBLIC_URL=url,
        TELEHEALTH_REDIS_URL=REDIS_URL,
        TELEHEALTH_STUN_URLS="",
        TELEHEALTH_TURN_URLS=coturn.url("udp"),
        TELEHEALTH_TURN_SECRET=coturn.secret,
        TELEHEALTH_ICE_TRANSPORT_POLICY="relay",
        TELEHEALTH_SMTP_URL="",
        TELEHEALTH_MAIL_FROM="",
    )
    assert not [v for v in env.values() if "example.org" in v], env
    environment = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    migrate = exec_start(DEPLOY / "telehealth-migrate.service", "")
    subprocess.run(migrate, env=environment, cwd=ROOT, check=True, capture_output=True)
    processes = []
    try:
        for port in app_ports:
            log = tmp_path / f"app-{port}.log"
            processes.append(
                subprocess.Popen(
                    exec_start(DEPLOY / "telehealth@.service", str(port)),
                    env=environment,
                    cwd=ROOT,
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(
                *(
                    _wait_for_http(
                        f"http://127.0.0.1:{port}/healthz",
                        process,
                        tmp_path / f"app-{port}.log",
                        session,
                    )
                    for port, process in zip(app_ports, processes, strict=True)
                )
            )

        # nginx: the site rendered from the template (as envsubst would) inside a main
        # configuration like Debian's own, which includes conf.d/*.conf in http {}.
        site = Template((DEPLOY / "nginx-site.conf.template").read_text())
        values = dict(
            DOMAIN="127.0.0.1",
            HTTPS_PORT=str(https_port),
            HTTP_PORT=str(http_port),
            TLS_CERT=str(cert),
            TLS_KEY=str(key),
            APP_1=f"127.0.0.1:{app_ports[0]}",
            APP_2=f"127.0.0.1:{app_ports[1]}",
            LOG_DIR=str(tmp_path),
        )
        (tmp_path / "site.conf").write_text(site.safe_substitute(values))
        (tmp_path / "nginx.conf").write_text(
            f"""
daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/nginx-error.log;
events {{}}
http {{
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    access_log off;
    include {DEPLOY / "nginx-http.conf"};
    include {tmp_path / "site.conf"};
}}
"""
        )
        nginx = subprocess.Popen(
            [NGINX, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "nginx-start.log").open("wb"),
        )
        processes.append(nginx)
        context = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as s:
            await _wait_for_http(f"{url}/healthz", nginx, tmp_path / "nginx-start.log", s)
        yield Topology(url, context, processes[:2], coturn)
    finally:
        for process in processes:
            _stop(process)


async def test_a_visit_through_nginx_two_processes_and_coturn_survives_losing_a_process(
    topology: Topology, sessionmaker, cast: Cast
):
    now = datetime.now(UTC).replace(microsecond=0)  # the processes run on the real clock
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, now + timedelta(minutes=5))
    alice_token = await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=now)
    bob_token = await session_token(sessionmaker, cast.bob, now=now)
    options = {"reconnection": True, "reconnection_delay": 0.2, "reconnection_delay_max": 0.5}
    alice = CallPeer(
        VisitsSocket(topology.url, alice_token, ssl=topology.ssl, **options), visit_id, "patient"
    )
    bob = CallPeer(
        VisitsSocket(topology.url, bob_token, ssl=topology.ssl, **options), visit_id, "prescriber"
    )
    try:
        # One after the other through nginx's round robin: one participant per process.
        for peer in (alice, bob):
            await peer.sock.connect()
            peer.start()
            ack = await peer.sock.call("join", {"visit_id": visit_id})
            assert ack["ok"] is True and ack["role"] == peer.role
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address
        connector = aiohttp.TCPConnector(ssl=topology.ssl)
        async with aiohttp.ClientSession(
            base_url=topology.url, cookie_jar=jar, connector=connector
        ) as client:
            # Check-in reaches the prescriber on the other process (rooms span processes).
            await check_in_and_admit(client, cast, visit_id, bob)
        for peer in (alice, bob):
            await asyncio.wait_for(peer.enough_frames.wait(), 20)
            pair = selected_pair(peer.pc)
            assert (pair.local_candidate.type, pair.remote_candidate.type) == ("relay", "relay")

        # The first process dies; the participant who was on it reconnects through nginx to
        # the second and rejoins; the other never noticed.
        first = topology.processes[0]
        first.send_signal(signal.SIGKILL)
        first.wait()
        await eventually(lambda: alice.rejoins or bob.rejoins, what="a participant rejoins")
        rejoined = [p.role for p in (alice, bob) if p.rejoins]
        assert len(rejoined) == 1, "the participants were not on different processes"
        (moved,) = [p for p in (alice, bob) if p.rejoins]
        assert moved.rejoins == [{"ok": True, "role": moved.role, "status": "in_progress"}]
        frames = (alice.frames, bob.frames)
        await eventually(  # video both ways
            lambda: alice.frames > frames[0] and bob.frames > frames[1],
            what="new frames reach both participants",
        )

        # The call can still be steered: the prescriber ends it, the patient is told.
        await end_and_tell(bob, alice, visit_id)
    finally:
        await alice.close()
        await bob.close()
