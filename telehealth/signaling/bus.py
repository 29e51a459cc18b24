"""Realtime layer: the recheck bus, which tells the other processes of a deployment (over
Redis pub/sub) to check some of their connections again at once: those of a visit that
closed, of a session that was signed out, of an account that was deactivated.

A message carries ids and a hash of the session token, never the token itself. Each process
ignores its own messages (it checked its connections before publishing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

log = logging.getLogger("telehealth.signaling")


@dataclass(frozen=True)
class Recheck:
    """Which connections to check again: a visit's, a session's (by token hash), an
    account's. Any of them may be None."""

    visit_id: int | None = None
    token_hash: str | None = None
    user_id: int | None = None

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Recheck:
        token_hash = data.get("token_hash")
        return cls(
            visit_id=_int_or_none(data.get("visit_id")),
            token_hash=token_hash if isinstance(token_hash, str) else None,
            user_id=_int_or_none(data.get("user_id")),
        )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class RecheckBus:
    """One deployment's channel of `Recheck` requests between its processes."""

    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, decode_responses=True)
        self._channel = channel
        self.origin = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        # Set while subscribed: until then this process may miss a sign-out (sessioncache).
        self.subscribed = asyncio.Event()

    async def publish(self, recheck: Recheck) -> None:
        message = {**asdict(recheck), "origin": self.origin}
        await self._redis.publish(self._channel, json.dumps(message))

    def start(self, handler: Callable[[Recheck], Awaitable[None]]) -> None:
        async def listen() -> None:
            pause = 1.0
            while True:
                try:
                    async with self._redis.pubsub() as pubsub:
                        await pubsub.subscribe(self._channel)
                        self.subscribed.set()
                        pause = 1.0
                        async for message in pubsub.listen():
                            recheck = _bus_message(message, self.origin)
                            if recheck is not None:
                                await handler(recheck)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.subscribed.clear()
                    log.exception("signaling recheck bus lost; subscribing again")
                    # Redis away: try again, less often the longer it stays away.
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 30.0)

        self._task = asyncio.create_task(listen())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._redis.aclose()


def _bus_message(message: Any, own_origin: str) -> Recheck | None:
    """A recheck request from another process, or None (our own, or not one)."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    try:
        data = json.loads(message.get("data") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("origin") == own_origin:
        return None
    return Recheck.from_wire(data)
