"""The per-process memory of sessions: what must make it forget, or not remember."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from telehealth.auth.models import Role, User
from telehealth.auth.policy import Actor
from telehealth.auth.sessioncache import SessionCache
from telehealth.auth.sessions import ResolvedSession

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def resolved(user_id: int = 7, visit_scope: int | None = None) -> ResolvedSession:
    actor = Actor(user_id=user_id, role=Role.prescriber, username="dr", visit_scope=visit_scope)
    user = User(id=user_id, username="dr", role=Role.prescriber, full_name="Dr")
    return ResolvedSession(actor, 1, user=user)


def test_a_lookup_that_raced_a_sign_out_is_not_remembered():
    cache = SessionCache()
    generation = cache.generation  # the lookup read the row before the sign-out committed
    cache.drop(token_hash="h")  # the sign-out
    cache.put("h", resolved(), NOW, generation)
    assert cache.get("h", NOW) is None


def test_signing_out_or_deactivating_forgets_at_once():
    cache = SessionCache()
    cache.put("a", resolved(7), NOW, cache.generation)
    cache.put("b", resolved(7), NOW, cache.generation)
    cache.put("c", resolved(8), NOW, cache.generation)
    cache.drop(token_hash="a")
    assert cache.get("a", NOW) is None
    assert cache.get("b", NOW) is not None
    cache.drop(user_id=7)
    assert cache.get("b", NOW) is None
    assert cache.get("c", NOW) is not None


def test_an_entry_lasts_five_seconds_of_the_app_clock_and_join_links_are_never_held():
    cache = SessionCache()
    cache.put("a", resolved(), NOW, cache.generation)
    cache.put("j", resolved(visit_scope=3), NOW, cache.generation)
    assert cache.get("j", NOW) is None
    assert cache.get("a", NOW + timedelta(seconds=4)) is not None
    assert cache.get("a", NOW + timedelta(seconds=5)) is None
    cache.put("a", resolved(), NOW, cache.generation)
    assert cache.get("a", NOW - timedelta(seconds=1)) is None  # a clock that went back


def test_without_the_recheck_bus_nothing_is_used_and_what_was_held_is_forgotten():
    subscribed = [True]
    cache = SessionCache(lambda: subscribed[0])
    cache.put("a", resolved(), NOW, cache.generation)
    subscribed[0] = False
    assert not cache.usable()
    subscribed[0] = True
    assert cache.usable()
    assert cache.get("a", NOW) is None


def test_an_entry_is_not_used_past_the_sessions_absolute_lifetime():
    cache = SessionCache()
    max_age = timedelta(hours=12)
    found = dataclasses.replace(resolved(), created_at=NOW - max_age + timedelta(seconds=2))
    cache.put("a", found, NOW, cache.generation, max_age)
    assert cache.get("a", NOW + timedelta(seconds=2)) is not None
    assert cache.get("a", NOW + timedelta(seconds=3)) is None  # within 5 s, but past its end
