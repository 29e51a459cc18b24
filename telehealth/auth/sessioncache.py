"""Domain: a few seconds' memory, per process, of sessions just confirmed in the database.

Every request resolves its cookie; under load most of a session lookup's cost was the round
trips, not the answer. A session confirmed valid by the database is answered from memory for
at most `TTL` (also the coarseness of `last_seen_at` updates, so a cached session is never one
that could have gone idle), after which the database is asked again (and touched).

What ends a session ends its memory at once:

- sign-out and deactivation: once the change commits, the signaling server's notices (its
  subscriber to the unit of work's events) drop the entries here and, with Redis, tell every
  other process over the recheck bus, whose processes drop theirs (`Rechecks.here`);
- a lookup that raced with such a drop (read the row before the change committed, stores
  after the drop) stores nothing: every drop bumps a generation the store must match;
- with Redis configured but the bus not subscribed (Redis away), nothing is answered from
  memory and what was held is forgotten;
- idle logoff and the clock: an entry is only used while the app's clock is within `TTL`
  after the database confirmed it (tests that move the clock skip it), and never past the
  session's absolute lifetime (`max_age`, counted from its `created_at`).

Join-link sessions (scoped to one visit, ended by moving or cancelling it) are never held.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth import sessions as auth_sessions
from telehealth.auth.models import User
from telehealth.auth.policy import Actor

TTL = timedelta(seconds=5)
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    session_id: int | None
    user: User  # a copy bound to no session: what /api/me shows
    confirmed_at: datetime  # app clock
    confirmed_mono: float
    ends_at: datetime | None  # the absolute lifetime's end, if there is one


class SessionCache:
    def __init__(self, usable: Callable[[], bool] = lambda: True) -> None:
        self._entries: dict[str, _Entry] = {}
        self._usable = usable
        self.generation = 0

    def usable(self) -> bool:
        if self._usable():
            return True
        self.clear()
        return False

    def get(self, token_hash: str, now: datetime) -> _Entry | None:
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        fresh = entry.confirmed_at <= now < entry.confirmed_at + TTL
        fresh = fresh and (entry.ends_at is None or now <= entry.ends_at)
        if not fresh or time.monotonic() - entry.confirmed_mono >= TTL.total_seconds():
            del self._entries[token_hash]
            return None
        return entry

    def put(
        self,
        token_hash: str,
        resolved: auth_sessions.ResolvedSession,
        now: datetime,
        generation: int,
        max_age: timedelta | None = None,
    ) -> None:
        actor, user = resolved.actor, resolved.user
        if generation != self.generation or actor is None or user is None:
            return
        if actor.visit_scope is not None or actor.questionnaires_only:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        # A copy bound to no session: a rollback expires the request's own objects.
        snapshot = User(
            id=user.id,
            username=user.username,
            role=user.role,
            full_name=user.full_name,
            is_active=user.is_active,
        )
        ends_at = None
        if max_age is not None and resolved.created_at is not None:
            ends_at = resolved.created_at + max_age
        self._entries[token_hash] = _Entry(
            actor, resolved.session_id, snapshot, now, time.monotonic(), ends_at
        )

    def drop(self, *, token_hash: str | None = None, user_id: int | None = None) -> None:
        self.generation += 1
        if token_hash is not None:
            self._entries.pop(token_hash, None)
        if user_id is not None:
            for key in [k for k, e in self._entries.items() if e.actor.user_id == user_id]:
                del self._entries[key]

    def clear(self) -> None:
        self.generation += 1
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


async def resolve_session(
    cache: SessionCache | None,
    session: AsyncSession,
    *,
    token: str | None,
    now: datetime,
    idle: timedelta,
    max_age: timedelta | None = None,
    scope_check: auth_sessions.ScopeCheck,
) -> auth_sessions.ResolvedSession:
    """`auth_sessions.resolve_session`, answered from memory when the database confirmed the
    same session less than `TTL` ago and nothing has ended it since (`cache`: the app's;
    `scope_check`: whether a join-link session's visit is still the one its link opened)."""
    # The database's answer, asked when memory has none.
    lookup = functools.partial(
        auth_sessions.resolve_session,
        session,
        token=token,
        now=now,
        idle=idle,
        max_age=max_age,
        scope_check=scope_check,
    )
    if not token or cache is None or not cache.usable():
        return await lookup()
    key = auth_sessions.hash_token(token)
    entry = cache.get(key, now)
    if entry is not None:
        return auth_sessions.ResolvedSession(entry.actor, entry.session_id, user=entry.user)
    generation = cache.generation
    resolved = await lookup()
    cache.put(key, resolved, now, generation, max_age)
    return resolved
