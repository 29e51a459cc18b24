"""Realtime layer: how much one participant may write to one visit's call history, counted
across all their connections (and, with Redis, across all processes of a deployment).

The per-connection rate limit (`rooms.RateLimiter`) stops a flood on one socket; opening many
sockets would get round it. Each event that writes (a join that is not a repeat, a media
state that changed) spends from a budget keyed by visit and account, refilled every minute.
One participant spending theirs does not touch the other participant's.
"""

from __future__ import annotations

import time
from typing import Protocol

WINDOW_SECONDS = 60


class WriteBudget(Protocol):
    limit: int

    async def spend(self, visit_id: int, user_id: int) -> bool:
        """Take one write from the visit's budget of this account; False when it is spent."""
        ...

    async def close(self) -> None: ...


class LocalWriteBudget:
    """Budgets for a single process: at most `limit` writes per visit and account in each
    minute of the monotonic clock."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._window = -1
        self._spent: dict[tuple[int, int], int] = {}

    async def spend(self, visit_id: int, user_id: int) -> bool:
        window = int(time.monotonic() // WINDOW_SECONDS)
        if window != self._window:
            # A new minute: every budget is full again (and the old counts go).
            self._window, self._spent = window, {}
        key = (visit_id, user_id)
        if self._spent.get(key, 0) >= self.limit:
            return False
        self._spent[key] = self._spent.get(key, 0) + 1
        return True

    async def close(self) -> None:
        return None


class RedisWriteBudget:
    """The same budgets shared by every process of a deployment (one counter per visit,
    account and minute, expiring after the next)."""

    def __init__(self, url: str, prefix: str, limit: int) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self.limit = limit

    async def spend(self, visit_id: int, user_id: int) -> bool:
        window = int(time.time() // WINDOW_SECONDS)
        key = f"{self._prefix}:writes:{visit_id}:{user_id}:{window}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2 * WINDOW_SECONDS)
            spent, _ = await pipe.execute()
        return int(spent) <= self.limit

    async def close(self) -> None:
        await self._redis.aclose()
