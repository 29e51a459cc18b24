"""The patient's device in a network-namespace test: a real aiortc call peer joining the
visit over the real signaling server from inside the namespace (`ip netns exec ... python
-m tests.netpeer URL TOKEN VISIT_ID [TURN_TRANSPORT]`).

Like a browser, it watches its own network: when its address changes it reconnects the
signaling socket and restarts ICE (a fresh offer). Every 100 ms it prints one JSON line:
its ICE state, frames received so far, the selected pair's candidate types, the socket
under a relayed candidate (peer address and whether it is TLS) and its address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from tests.builders import VisitsSocket
from tests.peers import CallPeer, selected_pair


def current_address(server_host: str) -> str | None:
    """The source address this device would use towards the server (None: no network)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((server_host, 9))
        except OSError:
            return None
        address: str = probe.getsockname()[0]
        return address


def report(peer: CallPeer, address: str | None, restarts: int) -> dict[str, Any]:
    line: dict[str, Any] = {"frames": peer.frames, "address": address, "restarts": restarts}
    pc = peer.pc
    line["state"] = pc.iceConnectionState if pc is not None else "new"
    if pc is not None and line["state"] == "completed":
        with contextlib.suppress(Exception):
            pair = selected_pair(pc)
            line["local"] = pair.local_candidate.type
            line["remote"] = pair.remote_candidate.type
            if pair.local_candidate.type == "relay":
                turn = pair.protocol.transport._TurnTransport__inner_protocol.transport
                line["turn"] = {
                    "peer": list(turn.get_extra_info("peername")[:2]),
                    "tls": turn.get_extra_info("ssl_object") is not None,
                    "tcp": turn.get_extra_info("socket").type == socket.SOCK_STREAM,
                }
    return line


async def join(url: str, token: str, visit_id: int) -> VisitsSocket:
    sock = await VisitsSocket(url, token).connect()
    ack = await sock.call("join", {"visit_id": visit_id})
    assert ack["ok"], ack
    return sock


async def main(url: str, token: str, visit_id: int, turn_transport: str | None) -> None:
    server_host = urlsplit(url).hostname or ""
    peer = CallPeer(await join(url, token, visit_id), visit_id, "patient", turn_transport)
    peer.start()
    address = current_address(server_host)
    restarts = 0
    closing: set[asyncio.Task[Any]] = set()
    while True:
        now = current_address(server_host)
        if now is not None and now != address and peer.pc is not None:
            # A new network: the old signaling connection and ICE session are dead.
            print("change", now, time.monotonic(), file=sys.stderr, flush=True)
            old = peer.sock
            for task in peer._tasks:
                task.cancel()
            peer._tasks.clear()
            peer.sock = await join(url, token, visit_id)
            print("joined", time.monotonic(), file=sys.stderr, flush=True)
            peer.start()
            await peer.restart()
            print("restarted", time.monotonic(), file=sys.stderr, flush=True)
            restarts += 1
            task = asyncio.create_task(asyncio.wait_for(old.close(), 2))
            closing.add(task)
            task.add_done_callback(closing.discard)
        address = now if now is not None else address
        print(json.dumps(report(peer, now, restarts)), flush=True)
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    transport = arguments[3] if len(arguments) > 3 else None
    asyncio.run(main(arguments[0], arguments[1], int(arguments[2]), transport))
