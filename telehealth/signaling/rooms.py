"""Domain (pure): room names, who holds each seat of a visit, per-connection rate limits, and
how often a connection's session and visit are checked again while it relays signals.

A visit has two seats, the patient's and the prescriber's. Each seat is held by at most one
connection: a second tab of the same participant takes the seat, and the server tells the
old connection it was replaced and disconnects it, so there is never a ghost peer.
Room names are built here from authorised ids only, never from client text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# Relaying a signal does not touch the database; at most this often per connection, the
# server checks again that the session is still signed in and the visit still open.
RECHECK_INTERVAL = timedelta(seconds=5)


def visit_room(visit_id: int) -> str:
    """Both participants of a visit."""
    return f"visit:{visit_id}"


def seat_room(visit_id: int, role: str) -> str:
    """One participant of a visit (the current connection for that role)."""
    return f"visit:{visit_id}:{role}"


def dashboard_room(user_id: int) -> str:
    """A prescriber's dashboard: waiting-room notices for all their visits."""
    return f"dashboard:{user_id}"


def admin_alerts_room() -> str:
    """Every administrator's dashboard: safety alerts escalated to them."""
    return "alerts:admins"


def joined_check_time(now: datetime) -> datetime:
    """When a join counts as the connection's last check: backdated by a random part of the
    interval, so connections that joined together (after a server restart, say) fall due at
    different times instead of all checking the database at once. Never later than `now`."""
    return now - RECHECK_INTERVAL * random.random()  # noqa: S311 (spreading load, not a secret)


def recheck_due(last: datetime | None, now: datetime) -> bool:
    """Whether a connection last checked at `last` must be checked again before relaying."""
    # A clock that went backwards counts as due: never trust a check from the future.
    return last is None or not (last <= now < last + RECHECK_INTERVAL)


@dataclass(frozen=True)
class Seat:
    visit_id: int
    role: str


@dataclass
class Seats:
    """Which connection holds each seat (one process's view; see server.RedisSeats)."""

    _holder: dict[Seat, str] = field(default_factory=dict)

    def claim(self, seat: Seat, sid: str) -> str | None:
        """Give the seat to `sid`; return the connection it was taken from, if any."""
        previous = self._holder.get(seat)
        self._holder[seat] = sid
        return previous if previous != sid else None

    def release(self, seat: Seat, sid: str) -> bool:
        """Free the seat if `sid` still holds it; False if another connection took it."""
        if self._holder.get(seat) != sid:
            return False
        del self._holder[seat]
        return True

    def holder(self, seat: Seat) -> str | None:
        return self._holder.get(seat)

    def clear_visit(self, visit_id: int) -> None:
        for seat in [s for s in self._holder if s.visit_id == visit_id]:
            del self._holder[seat]


@dataclass
class TokenBucket:
    """`capacity` messages at once, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens = self.capacity
            self.updated = now
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


@dataclass
class RateLimiter:
    """One token bucket per connection. The defaults allow a burst of trickled candidates
    (a browser gathers a few dozen at once) while stopping a client that floods."""

    capacity: float = 120.0
    rate: float = 30.0
    _buckets: dict[str, TokenBucket] = field(default_factory=dict)

    def allow(self, sid: str, now: float) -> bool:
        bucket = self._buckets.get(sid)
        if bucket is None:
            bucket = self._buckets[sid] = TokenBucket(self.capacity, self.rate)
        return bucket.take(now)

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)

    def __len__(self) -> int:
        return len(self._buckets)
