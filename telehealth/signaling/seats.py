"""Realtime layer: where a visit's seats are held: in this process, or in Redis for a
deployment of several processes (`TELEHEALTH_REDIS_URL`).

Both stores keep the rule of `rooms.Seats`: one connection per seat; a claim takes the seat
and names the connection it was taken from; a release frees it only for its holder.
"""

from __future__ import annotations

from typing import Protocol

from telehealth.signaling import protocol
from telehealth.signaling.rooms import Seat, Seats

# A seat left behind by a process that died is forgotten after 12 hours.
SEAT_TTL_SECONDS = 12 * 3600


class SeatStore(Protocol):
    async def claim(self, seat: Seat, sid: str) -> str | None: ...
    async def release(self, seat: Seat, sid: str) -> bool: ...
    async def holder(self, seat: Seat) -> str | None: ...
    async def clear_visit(self, visit_id: int) -> None: ...
    async def close(self) -> None: ...


class LocalSeats:
    """Seats for a single process."""

    def __init__(self) -> None:
        self._seats = Seats()

    async def claim(self, seat: Seat, sid: str) -> str | None:
        return self._seats.claim(seat, sid)

    async def release(self, seat: Seat, sid: str) -> bool:
        return self._seats.release(seat, sid)

    async def holder(self, seat: Seat) -> str | None:
        return self._seats.holder(seat)

    async def clear_visit(self, visit_id: int) -> None:
        self._seats.clear_visit(visit_id)

    async def close(self) -> None:
        return None


_RELEASE_IF_HOLDER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)


class RedisSeats:
    """Seats shared by every process of a deployment (keys expire after a day's use)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def _key(self, seat: Seat) -> str:
        return f"{self._prefix}:seat:{seat.visit_id}:{seat.role}"

    async def claim(self, seat: Seat, sid: str) -> str | None:
        previous = await self._redis.set(self._key(seat), sid, ex=SEAT_TTL_SECONDS, get=True)
        return str(previous) if previous and previous != sid else None

    async def release(self, seat: Seat, sid: str) -> bool:
        # Atomically: a tab that took the seat meanwhile keeps it.
        released = await self._redis.eval(_RELEASE_IF_HOLDER, 1, self._key(seat), sid)
        return bool(released)

    async def holder(self, seat: Seat) -> str | None:
        value = await self._redis.get(self._key(seat))
        return str(value) if value else None

    async def clear_visit(self, visit_id: int) -> None:
        await self._redis.delete(*(self._key(Seat(visit_id, r)) for r in protocol.ROLES))

    async def close(self) -> None:
        await self._redis.aclose()
