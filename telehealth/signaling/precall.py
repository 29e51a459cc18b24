"""Media layer: the pre-call connection test, a server-side aiortc peer per browser.

The browser offers (non-trickle: its candidates are in the SDP), the server answers, sends
the browser's own video back through a MediaRelay and echoes pings on a data channel named
"rtt", so a patient learns before the visit whether video works from their network.
Peers live in an app-scoped registry: closed when their connection fails or closes, on an
explicit DELETE, after `max_age_seconds`, and on shutdown. At most `max_peers` run at once,
and at most `per_owner` of them for one account: a further test of the same account ends
its oldest (a reload or a second tab), so no account can hold the pool and another account
is refused only when the pool is full, told how many seconds until a test ends.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaBlackhole, MediaRelay

from telehealth.auth.turn import precall_ice
from telehealth.config import IceTransportPolicy, Settings
from telehealth.errors import DomainError, InvalidInput, RateLimited
from telehealth.keys import PRECALL, SETTINGS

log = logging.getLogger("telehealth.precall")

MAX_SDP_BYTES = 64 * 1024
MAX_PING_CHARS = 256
RTT_CHANNEL = "rtt"


class PrecallBusy(DomainError):
    """Every test slot is taken (mapped to 503 in the web layer's status table; the web
    layer sends `retry_after` as the Retry-After header too)."""

    code = "precall_busy"

    def __init__(self, retry_after: int = 60) -> None:
        super().__init__(
            f"All connection tests are in use right now. Try again in {retry_after} seconds; "
            "your visit itself is not affected.",
            retry_after=retry_after,
        )


@dataclass
class _Peer:
    id: str
    owner_id: int
    pc: Any  # aiortc.RTCPeerConnection (aiortc ships no type information)
    relay: Any = field(default_factory=MediaRelay)
    blackhole: Any = field(default_factory=MediaBlackhole)
    timer: asyncio.TimerHandle | None = None
    # When the peer is closed at the latest (event loop clock).
    deadline: float = 0.0


class OfferRateLimit:
    """At most `limit` offers per user in a sliding window of the app clock."""

    def __init__(self, limit: int = 10, window: timedelta = timedelta(minutes=1)) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[int, deque[datetime]] = {}

    def check(self, user_id: int, now: datetime) -> None:
        seen = self._seen.setdefault(user_id, deque())
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            raise RateLimited(
                "You started the connection test too many times in a row. "
                "Wait a minute and try again."
            )
        seen.append(now)


class PrecallRegistry:
    """The running test peers of one app, by unguessable id, each bound to its owner."""

    def __init__(
        self,
        *,
        max_peers: int,
        configuration: Callable[[int], Any],
        max_age_seconds: float = 120.0,
        per_owner: int = 2,
    ) -> None:
        self.max_peers = max_peers
        self.per_owner = per_owner
        self.max_age_seconds = max_age_seconds
        self.rate_limit = OfferRateLimit()
        # owner id -> aiortc RTCConfiguration (fresh TURN credentials for each test)
        self._configuration = configuration
        self._peers: dict[str, _Peer] = {}
        self._tasks: set[asyncio.Task[bool]] = set()

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    async def answer(self, *, owner_id: int, sdp: str, kind: str) -> tuple[str, str, str]:
        """Answer the browser's offer; return (peer id, answer sdp, answer type)."""
        if kind != "offer":
            raise InvalidInput('type must be "offer".', field="type")
        if not sdp or len(sdp.encode()) > MAX_SDP_BYTES:
            raise InvalidInput("sdp must be a session description of at most 64 KiB.", field="sdp")
        loop = asyncio.get_running_loop()
        # Until the first await, nothing else runs: the share and the pool are checked and
        # the slot taken at once, so concurrent offers cannot overshoot either.
        own = sorted(
            (p for p in self._peers.values() if p.owner_id == owner_id), key=lambda p: p.deadline
        )
        replaced = own[: max(0, len(own) - self.per_owner + 1)]
        for old in replaced:
            del self._peers[old.id]
        if len(self._peers) >= self.max_peers:
            for old in replaced:  # refused: the account keeps its running tests
                self._peers[old.id] = old
            soonest = min(p.deadline for p in self._peers.values())
            raise PrecallBusy(retry_after=max(1, math.ceil(soonest - loop.time())))
        peer_id = secrets.token_urlsafe(18)
        pc = RTCPeerConnection(self._configuration(owner_id))
        peer = _Peer(
            id=peer_id, owner_id=owner_id, pc=pc, deadline=loop.time() + self.max_age_seconds
        )
        self._peers[peer_id] = peer
        for old in replaced:
            await _shut(old)
        pc.on("datachannel", _echo_pings)
        pc.on("track", lambda track: _on_track(peer, track))

        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close(peer_id)

        pc.on("connectionstatechange", on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            if not pc.getTransceivers() and pc.sctp is None:
                raise ValueError("the offer has no media and no data channel")
            # aiortc gathers every candidate inside setLocalDescription: the answer is
            # complete (non-trickle) when this returns.
            await pc.setLocalDescription(await pc.createAnswer())
            await peer.blackhole.start()
        except Exception as exc:
            await self.close(peer_id)
            log.info("precall offer refused", extra={"error": type(exc).__name__})
            raise InvalidInput(
                "Your browser's connection offer could not be used. Reload the page and "
                "try again; if it keeps failing, try another browser.",
                code="bad_offer",
            ) from None
        if peer_id not in self._peers:  # closed while answering (failed at once)
            raise InvalidInput(
                "The connection test stopped at once. Reload and try again.", code="bad_offer"
            )
        peer.timer = loop.call_later(
            max(0.0, peer.deadline - loop.time()), self._close_later, peer_id
        )
        local = pc.localDescription
        return peer_id, str(local.sdp), str(local.type)

    def _close_later(self, peer_id: str) -> None:
        task = asyncio.ensure_future(self.close(peer_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, peer_id: str, *, owner_id: int | None = None) -> bool:
        """Close one peer. With `owner_id`, only that user's peer; False if none matched."""
        peer = self._peers.get(peer_id)
        if peer is None or (owner_id is not None and peer.owner_id != owner_id):
            return False
        del self._peers[peer_id]
        await _shut(peer)
        return True

    async def close_all(self) -> None:
        for peer_id in list(self._peers):
            await self.close(peer_id)
        for task in list(self._tasks):
            task.cancel()


async def _shut(peer: _Peer) -> None:
    """Stop a peer that is no longer in the registry."""
    if peer.timer is not None:
        peer.timer.cancel()
    await peer.blackhole.stop()
    await peer.pc.close()


def _echo_pings(channel: Any) -> None:
    if channel.label != RTT_CHANNEL:
        return

    def on_message(message: object) -> None:
        # Echo small text pings only; the browser times the round trip itself.
        if isinstance(message, str) and len(message) <= MAX_PING_CHARS:
            channel.send(message)

    channel.on("message", on_message)


def _on_track(peer: _Peer, track: Any) -> None:
    if track.kind == "video":
        # Fired inside setRemoteDescription, before the answer: the answer then sends it.
        peer.pc.addTrack(peer.relay.subscribe(track))
    else:
        # Never play a microphone back (it would howl); drain it so nothing piles up.
        peer.blackhole.addTrack(track)


def server_configuration(settings: Settings, owner_id: int) -> Any:
    """The server peer's RTCConfiguration. With policy `all`: STUN from configuration and
    no relay (the server has a reachable address of its own); an empty list means host
    candidates only (never a default public STUN server, which aiortc would otherwise use).
    With `relay`: TURN only, like the browser, so the test proves the relay works."""
    if settings.ice_transport_policy is IceTransportPolicy.all:
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in settings.stun_urls])
    ice = precall_ice(settings, owner_id, datetime.now(UTC))
    return RTCConfiguration(
        iceServers=[RTCIceServer(**server) for server in ice.servers if "username" in server],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


def setup_precall(app: web.Application) -> None:
    """Create the app's registry and close every peer when the app shuts down."""
    settings = app[SETTINGS]
    app[PRECALL] = PrecallRegistry(
        max_peers=settings.precall_max_peers,
        per_owner=settings.precall_peers_per_account,
        configuration=lambda owner_id: server_configuration(settings, owner_id),
    )

    async def close_peers(app: web.Application) -> None:
        await app[PRECALL].close_all()

    app.on_shutdown.append(close_peers)
