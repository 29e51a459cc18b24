"""A real coturn for tests, started from deploy/turnserver.conf itself (`-c`), with only
addresses, ports, secret, certificate and allowed peers overridden on the command line."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.waiting import eventually

ROOT = Path(__file__).resolve().parent.parent
DEPLOY_CONF = ROOT / "deploy" / "turnserver.conf"
TURNSERVER = shutil.which("turnserver") or "/usr/bin/turnserver"


@dataclass
class Coturn:
    host: str
    port: int
    secret: str
    process: subprocess.Popen[bytes]
    log: Path
    tls_port: int | None = None

    def url(self, transport: str = "udp") -> str:
        if transport == "tls":
            return f"turns:{self.host}:{self.tls_port}?transport=tcp"
        return f"turn:{self.host}:{self.port}?transport={transport}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def require_coturn() -> None:
    if Path(TURNSERVER).exists():
        return
    message = "coturn is not installed (/usr/bin/turnserver); scripts/system-deps.sh installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
    pytest.skip(message)


def free_udp_and_tcp_port(host: str = "127.0.0.1") -> int:
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket() as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for coturn")


def make_certificate(directory: Path, *names: str) -> tuple[Path, Path]:
    """A self-signed certificate (its own trust anchor) for the given IPs and host names."""
    cert, key = directory / "turn-cert.pem", directory / "turn-key.pem"
    san = ",".join(
        f"IP:{name}" if name.replace(".", "").isdigit() else f"DNS:{name}" for name in names
    )
    command = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
    subprocess.run(
        [
            *command.split(),
            *("-subj", "/CN=turn.test", "-keyout", str(key), "-out", str(cert)),
            *("-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def start_coturn(
    directory: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    tls: tuple[Path, Path] | None = None,
    tls_port: int | None = None,
    allowed_peers: Sequence[str] = ("127.0.0.1",),
) -> Coturn:
    """coturn listening (and relaying) on `host`; with `tls`, TLS on `tls_port` too.
    Relaying towards `allowed_peers` is allowed although deploy/ denies private ranges."""
    require_coturn()
    port = port or free_udp_and_tcp_port(host)
    relay_low = 49152 + (port % 1000) * 10
    secret = secrets.token_urlsafe(24)
    log = directory / f"turn-{port}.log"
    args = [
        TURNSERVER,
        "-c",
        str(DEPLOY_CONF),
        f"--listening-ip={host}",
        f"--relay-ip={host}",
        f"--listening-port={port}",
        f"--static-auth-secret={secret}",
        "--realm=telehealth.test",
        f"--min-port={relay_low}",
        f"--max-port={relay_low + 9}",
        f"--log-file={log}",
        "--simple-log",
        "--no-stdout-log",
        f"--pidfile={directory / f'turn-{port}.pid'}",
        "--allow-loopback-peers",
        *(f"--allowed-peer-ip={peer}" for peer in allowed_peers),
    ]
    if tls is None:
        args.append("--no-tls")
    else:
        tls_port = tls_port or free_udp_and_tcp_port(host)
        args += [f"--tls-listening-port={tls_port}", f"--cert={tls[0]}", f"--pkey={tls[1]}"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    coturn = Coturn(host, port, secret, process, log, tls_port if tls else None)
    try:
        await _wait_until_listening(host, port, process)
        if tls_port is not None and tls is not None:
            await _wait_until_listening(host, tls_port, process)
    except BaseException:
        coturn.stop()
        raise
    return coturn


async def _wait_until_listening(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    async def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"turnserver exited with {process.returncode}")
        try:
            _reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    await eventually(listening, what=f"turnserver listens on {host}:{port}")
