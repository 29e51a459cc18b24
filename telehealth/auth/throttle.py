"""Domain: the sign-in throttle, kept in the server process.

Failures are counted three ways, the same for a username that exists and one that does not
(so neither the lockout nor its timing tells them apart):

- per address and username: `pair_limit` failures lock that username from that address
  (the familiar "five tries, then fifteen minutes");
- per address: `address_limit` failures, whatever the usernames, lock the address (a
  password spray from one place);
- per username: `username_limit` failures from anywhere lock the username (a distributed
  guess), except from an address the account signed in from before, so an attacker
  cannot keep its owner, an administrator say, out at will.

The pair limit is the lowest: an attacker at one address is stopped for a username before
the username itself can lock. An attempt counts as a failure from the moment it begins
and is taken back if it succeeds, so a burst of concurrent guesses cannot outrun the
count. A refusal costs no password hash. With several server processes each keeps its own
counts (an attacker gets one budget per process); a restart clears them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum


class Scope(StrEnum):
    pair = "pair"
    address = "address"
    username = "username"


@dataclass
class _Count:
    since: datetime
    failures: int = 0
    locked_until: datetime | None = None
    refusal_reported: bool = False


@dataclass(frozen=True)
class Refusal:
    scope: Scope
    until: datetime
    # The first refusal of this lock: audited once, not once per attempt of a flood.
    first: bool


@dataclass
class Attempt:
    address: str
    username: str
    keys: list[tuple[str, ...]] = field(default_factory=list)


class SignInThrottle:
    def __init__(
        self,
        *,
        pair_limit: int,
        address_limit: int,
        username_limit: int,
        lockout: timedelta,
        max_keys: int = 100_000,
    ) -> None:
        self.limits = {
            Scope.pair: pair_limit,
            Scope.address: address_limit,
            Scope.username: username_limit,
        }
        self.lockout = lockout
        self.max_keys = max_keys
        self._counts: dict[tuple[str, ...], _Count] = {}

    @staticmethod
    def _keys(address: str, username: str) -> list[tuple[Scope, tuple[str, ...]]]:
        # Checked in this order: the address first, then this username from it.
        return [
            (Scope.address, ("a", address)),
            (Scope.pair, ("p", address, username)),
            (Scope.username, ("u", username)),
        ]

    def _count(self, key: tuple[str, ...], now: datetime) -> _Count:
        count = self._counts.get(key)
        if count is None:
            count = self._counts[key] = _Count(since=now)
        elif count.locked_until is None and now - count.since > self.lockout:
            # The window passed without a lock: start counting again.
            count.since, count.failures = now, 0
        return count

    def begin(
        self, address: str, username: str, now: datetime, *, known_address: bool = False
    ) -> Attempt | Refusal:
        """Start an attempt, or refuse it without any password work.

        `known_address`: the account signed in from this address before, so a lock of the
        username by failures from elsewhere does not apply here.
        """
        self._prune(now)
        keys = [
            (scope, key)
            for scope, key in self._keys(address, username)
            if not (known_address and scope is Scope.username)
        ]
        for scope, key in keys:
            count = self._count(key, now)
            if count.locked_until is not None and count.locked_until > now:
                first = not count.refusal_reported
                count.refusal_reported = True
                return Refusal(scope, count.locked_until, first)
            if count.locked_until is not None:
                self._counts[key] = _Count(since=now)
        for scope, key in keys:
            count = self._counts[key]
            if count.failures >= self.limits[scope]:
                # As many attempts in flight as the limit allows: this one would be over it.
                count.locked_until = now + self.lockout
                count.failures = 0
                count.refusal_reported = True
                return Refusal(scope, count.locked_until, True)
        for _scope, key in keys:
            self._counts[key].failures += 1
        return Attempt(address, username, [key for _scope, key in keys])

    def username_locked(self, username: str, now: datetime) -> bool:
        count = self._counts.get(("u", username))
        return bool(count and count.locked_until and count.locked_until > now)

    def failed(self, attempt: Attempt, now: datetime) -> Refusal | None:
        """The attempt failed (its failure is already counted): lock what reached its limit.
        Returns the lock this failure began, if any."""
        began = None
        for key in attempt.keys:
            count = self._counts.get(key)
            scope = {"a": Scope.address, "p": Scope.pair, "u": Scope.username}[key[0]]
            if count is not None and count.failures >= self.limits[scope]:
                count.locked_until = now + self.lockout
                count.failures = 0
                count.refusal_reported = False
                began = began or Refusal(scope, count.locked_until, first=False)
        return began

    def succeeded(self, attempt: Attempt) -> None:
        """Take the attempt back; a success clears this username's failures."""
        self.withdraw(attempt)
        for key in attempt.keys:
            if key[0] in ("p", "u") and key in self._counts:
                self._counts[key].failures = 0

    def withdraw(self, attempt: Attempt) -> None:
        """The attempt never reached a verdict (the request failed): uncount it."""
        for key in attempt.keys:
            count = self._counts.get(key)
            if count is not None:
                count.failures = max(0, count.failures - 1)

    def unlock(self, username: str) -> bool:
        """An administrator unlocks the account: every lock of its username ends."""
        keys = [k for k in self._counts if k[-1] == username and k[0] in ("p", "u")]
        locked = any(self._counts[k].locked_until is not None for k in keys)
        for key in keys:
            del self._counts[key]
        return locked

    def locked_usernames(self, now: datetime) -> set[str]:
        return {
            key[-1]
            for key, count in self._counts.items()
            if key[0] in ("p", "u") and count.locked_until and count.locked_until > now
        }

    def _prune(self, now: datetime) -> None:
        """Forget counts whose window and lock are over; bound memory against a spray of
        made-up usernames by dropping the oldest when still too many."""
        if len(self._counts) < self.max_keys:
            return
        for key in [
            k
            for k, c in self._counts.items()
            if (c.locked_until is None or c.locked_until <= now) and now - c.since > self.lockout
        ]:
            del self._counts[key]
        if len(self._counts) >= self.max_keys:
            # Counts without a lock go first, oldest first: a spray must not flush the
            # locks it is trying to get past.
            def keep_first(key: tuple[str, ...]) -> tuple[bool, datetime]:
                count = self._counts[key]
                locked = count.locked_until is not None and count.locked_until > now
                return locked, count.since

            ordered = sorted(self._counts, key=keep_first)
            for key in ordered[: len(ordered) - self.max_keys // 2]:
                del self._counts[key]
