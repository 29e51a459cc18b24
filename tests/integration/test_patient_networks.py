"""Calls from the networks patients have, built on this machine with network namespaces:
behind a home NAT; behind a NAT that drops all UDP (TURN over TCP) or lets only TLS to
port 443 out (TURN over TLS); and on a network that changes mid-call. The patient is a real
aiortc peer running inside the namespace (tests/netpeer.py), joining through the real
signaling server; the prescriber is a real aiortc peer on the internet side; coturn is
started from deploy/turnserver.conf. See tests/netns.py for the topology."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from telehealth.app import create_app
from tests.builders import Cast, VisitsSocket, make_visit, session_token
from tests.coturn import ROOT, Coturn, make_certificate, start_coturn
from tests.netns import HomeNetwork, home_network, require_network_namespaces
from tests.peers import CallPeer, check_in_and_admit, selected_pair
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

# What a NAT that drops all UDP still forwards: TCP to TURN (3478) and to the practice.
TCP_ONLY = "tcp dport {{ 3478, {web} }}"
# An office or hospital firewall: only TLS to port 443 (the practice's web port stands in
# for its HTTPS 443 here).
TLS_443_ONLY = "tcp dport {{ 443, {web} }}"


@pytest.fixture
def home() -> Iterator[HomeNetwork]:
    require_network_namespaces()
    network = home_network()
    try:
        yield network
    finally:
        network.down()


@dataclass
class Practice:
    home: HomeNetwork
    url: str
    coturn: Coturn
    cert: Path


@pytest.fixture
async def practice(
    home: HomeNetwork, settings: Any, clock: Any, port: int, tmp_path: Path
) -> AsyncIterator[Practice]:
    """The server and coturn (TLS on 443) on the internet side of the patient's home."""
    cert = make_certificate(tmp_path, home.public)
    coturn = await start_coturn(
        tmp_path, host=home.public, port=3478, tls=cert, tls_port=443, allowed_peers=[home.public]
    )
    settings.host = home.public
    settings.public_url = f"http://{home.public}:{port}"
    settings.turn_urls = [coturn.url(t) for t in ("udp", "tcp", "tls")]
    settings.turn_secret = coturn.secret
    # coturn judges credential expiry by the machine's real clock.
    clock.set(datetime.now(UTC).replace(microsecond=0))
    server = TestServer(create_app(settings, clock=clock), host=home.public, port=port)
    await server.start_server()
    try:
        yield Practice(home, settings.public_url, coturn, cert[0])
    finally:
        await server.close()
        coturn.stop()


@dataclass
class PatientDevice:
    """tests/netpeer.py in the patient's namespace; `last` is its latest report."""

    process: asyncio.subprocess.Process
    last: dict[str, Any] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            with contextlib.suppress(ValueError):
                self.last = json.loads(line)

    async def until(self, check: Any, timeout: float, what: str) -> dict[str, Any]:
        def reported() -> dict[str, Any] | None:
            if self.process.returncode is not None:
                raise AssertionError(f"the patient's peer exited; last report {self.last}")
            return self.last if self.last and check(self.last) else None

        try:
            return await eventually(reported, timeout=timeout, what=what)
        except AssertionError as failed:
            raise AssertionError(f"{failed}; last report {self.last}") from None

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 5)
        if self.reader is not None:
            self.reader.cancel()


async def start_patient(
    practice: Practice, token: str, visit_id: int, turn_transport: str | None
) -> PatientDevice:
    command = [sys.executable, "-m", "tests.netpeer", practice.url, token, str(visit_id)]
    if turn_transport:
        command.append(turn_transport)
    env = {**os.environ, "SSL_CERT_FILE": str(practice.cert), "PYTHONPATH": str(ROOT)}
    process = await asyncio.create_subprocess_exec(
        *practice.home.in_patient(*command),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=open(practice.cert.parent / "patient.log", "ab"),  # noqa: SIM115
    )
    device = PatientDevice(process)
    device.reader = asyncio.create_task(device._read())
    return device


@contextlib.asynccontextmanager
async def call_from_home(
    practice: Practice,
    sessionmaker: Any,
    cast: Cast,
    clock: Any,
    *,
    turn_transport: str | None = None,
) -> AsyncIterator[tuple[PatientDevice, CallPeer]]:
    """The patient joins from home, checks in; the prescriber admits; both see video."""
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5)
    )
    patient_token = await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now)
    bob_token = await session_token(sessionmaker, cast.bob, now=clock.now)
    bob = CallPeer(await VisitsSocket(practice.url, bob_token).connect(), visit_id, "prescriber")
    bob.start()
    patient: PatientDevice | None = None
    try:
        ack = await bob.sock.call("join", {"visit_id": visit_id})
        assert ack["ok"] is True
        patient = await start_patient(practice, patient_token, visit_id, turn_transport)
        await bob.sock.wait_for("peer_joined", timeout=15)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(base_url=practice.url, cookie_jar=jar) as client:
            await check_in_and_admit(client, cast, visit_id, bob)
        await patient.until(
            lambda r: r["state"] == "completed" and r["frames"] >= 5, 20, "no video reached home"
        )
        await asyncio.wait_for(bob.enough_frames.wait(), 20)
        yield patient, bob
    finally:
        if patient is not None:
            await patient.stop()
        await bob.close()


async def test_a_patient_behind_a_home_nat_holds_the_call(
    practice: Practice, sessionmaker, cast: Cast, clock
):
    async with call_from_home(practice, sessionmaker, cast, clock) as (patient, bob):
        # Straight through the NAT: the prescriber sees the router's public address, never
        # the device's own.
        pair = selected_pair(bob.pc)
        assert pair.remote_candidate.host == practice.home.router_public
        assert patient.last["address"] == practice.home.patient_address
        frames = bob.frames
        await patient.until(lambda r: r["frames"] > 20, 10, "video stopped reaching home")
        assert bob.frames > frames


@pytest.mark.parametrize(
    ("firewall", "transport", "turn_port"),
    [(TCP_ONLY, "tcp", 3478), (TLS_443_ONLY, "tls", 443)],
    ids=["no-udp-turn-tcp", "only-443-turn-tls"],
)
async def test_a_patient_whose_network_drops_udp_is_carried_by_turn_over_tcp_or_tls(
    firewall: str,
    transport: str,
    turn_port: int,
    practice: Practice,
    sessionmaker,
    cast: Cast,
    clock,
):
    practice.home.firewall(firewall.format(web=practice.url.rsplit(":", 1)[1]))
    async with call_from_home(practice, sessionmaker, cast, clock, turn_transport=transport) as (
        patient,
        bob,
    ):
        report = patient.last
        assert report["local"] == "relay"
        assert report["turn"]["tcp"] is True
        assert report["turn"]["tls"] is (transport == "tls")
        assert report["turn"]["peer"] == [practice.home.public, turn_port]
        frames = bob.frames
        await patient.until(lambda r: r["frames"] > 20, 10, "video stopped reaching home")
        assert bob.frames > frames


async def test_a_call_goes_on_within_five_seconds_when_the_patients_network_changes(
    practice: Practice, sessionmaker, cast: Cast, clock
):
    async with call_from_home(practice, sessionmaker, cast, clock) as (patient, bob):
        before = patient.last["frames"]
        changed_at = time.monotonic()
        new_address = practice.home.move_patient(3)
        report = await patient.until(
            lambda r: (
                r["address"] == new_address
                and r["restarts"] == 1
                and r["state"] == "completed"
                and r["frames"] > before + 5
            ),
            5,
            "the call did not come back on the new network",
        )
        took = time.monotonic() - changed_at
        print(f"video back {took:.2f} s after the patient's address changed")
        assert report["restarts"] == 1 and took < 5
        frames = bob.frames
        # And the prescriber sees the patient again.
        await eventually(lambda: bob.frames > frames, what="a new frame reaches Bob")
