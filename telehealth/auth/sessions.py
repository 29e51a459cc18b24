"""Domain services: sign-in, server-side sessions, idle and absolute logoff, sign-out.

A session may be limited to one visit (opened by that visit's join link). Whether such a
visit is still the one the link opened is the visits layer's question: the caller passes
its answer in as `scope_check`, so this package never reads visits.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import Role, User, UserSession
from telehealth.auth.policy import Actor

# UserSession.purpose of a join-link session that may only answer questionnaires.
QUESTIONNAIRES_PURPOSE = "questionnaires"


class ScopeCheck(Protocol):
    """Whether a join-link session's visit is still the one its link opened."""

    async def __call__(
        self, session: AsyncSession, *, visit_id: int, sequence: int | None
    ) -> bool: ...


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_username(username: str) -> str:
    return username.strip().lower()[:200]


async def find_account(session: AsyncSession, username: str) -> User | None:
    """The account a sign-in names, read without a lock: its password is checked after the
    transaction ends (see telehealth/http/api/auth.sign_in)."""
    return (
        await session.execute(
            select(User).where(col(User.username) == normalise_username(username))
        )
    ).scalar_one_or_none()


async def signed_in_from(
    session: AsyncSession, *, username: str, address: str | None, since: datetime
) -> bool:
    """Whether this account opened a session from this address since `since`: such an
    address is not kept out by failures from elsewhere."""
    if not address:
        return False
    found = await session.execute(
        select(col(UserSession.id))
        .join(User, col(User.id) == col(UserSession.user_id))
        .where(
            col(User.username) == normalise_username(username),
            col(UserSession.source_address) == address,
            col(UserSession.created_at) >= since,
        )
        .limit(1)
    )
    return found.first() is not None


def record_failed_sign_in(
    session: AsyncSession, user: User | None, *, reason: str, locked: bool = False
) -> None:
    """Audit a refused sign-in (kept even if the request fails later). An unknown username
    is recorded without it: a mistyped password in the username field must not be stored."""
    detail: dict[str, Any] = {"reason": reason}
    if locked:
        detail["locked"] = True
    audit.record(
        session,
        Action.login,
        "session",
        outcome=Outcome.failure,
        user_id=user.id if user else None,
        role=user.role.value if user else None,
        detail=detail,
        durable=True,
    )


async def start_session(
    session: AsyncSession,
    *,
    user: User,
    now: datetime,
    source_address: str | None,
    visit_id: int | None = None,
    visit_sequence: int | None = None,
    purpose: str | None = None,
) -> str:
    """Open a session and return its cookie token (only the hash is stored)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=hash_token(token),
        user_id=user.id,
        visit_id=visit_id,
        visit_sequence=visit_sequence,
        purpose=purpose,
        created_at=now,
        last_seen_at=now,
        source_address=source_address,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        Action.login,
        "session",
        row.id,
        user_id=user.id,
        role=user.role.value,
        detail={"via": (purpose or "join_link") if visit_id else "password"},
        patient_id=user.id if user.role is Role.patient else None,
    )
    return token


@dataclass(frozen=True)
class ResolvedSession:
    actor: Actor | None
    session_id: int | None = None
    expired: bool = False
    reason: str = "idle"
    # Held for the request's lifetime so the ORM's (weak) identity map keeps it: later
    # lookups of the same user in this transaction cost no query.
    user: User | None = None
    # When the session began (its absolute lifetime counts from here).
    created_at: datetime | None = None


async def resolve_session(
    session: AsyncSession,
    *,
    token: str | None,
    now: datetime,
    idle: timedelta,
    scope_check: ScopeCheck,
    max_age: timedelta | None = None,
    touch: bool = True,
) -> ResolvedSession:
    """Find the actor behind a cookie; end the session if its visit changed (join links,
    asked of `scope_check`), if it sat idle too long, or if it is older than `max_age`
    however busy it has been."""
    if not token:
        return ResolvedSession(None)
    # One round trip for the session and its user: this runs on every request.
    found = (
        await session.execute(
            select(UserSession, User)
            .join(User, col(User.id) == col(UserSession.user_id))
            .where(col(UserSession.token_hash) == hash_token(token))
        )
    ).first()
    if found is None:
        return ResolvedSession(None)
    row, user = found
    if row.ended_at is not None or not user.is_active:
        return ResolvedSession(None)
    reason = None
    if row.visit_id is not None and not await scope_check(
        session, visit_id=row.visit_id, sequence=row.visit_sequence
    ):
        reason = "visit_changed"
    elif max_age is not None and now - row.created_at > max_age:
        reason = "max_age"
    elif now - row.last_seen_at > idle:
        reason = "idle"
    if reason is not None:
        row.ended_at = now
        row.ended_reason = reason
        audit.record(
            session,
            Action.logout,
            "session",
            row.id,
            user_id=user.id,
            role=user.role.value,
            detail={"reason": reason},
        )
        return ResolvedSession(None, row.id, expired=True, reason=reason)
    if touch and (now - row.last_seen_at).total_seconds() > 5:
        # Coarse updates: a busy page does not rewrite the row on every request.
        await session.execute(
            update(UserSession).where(col(UserSession.id) == row.id).values(last_seen_at=now)
        )
    actor = Actor(
        user_id=user.id or 0,
        role=user.role,
        username=user.username,
        visit_scope=row.visit_id,
        questionnaires_only=row.purpose == QUESTIONNAIRES_PURPOSE,
    )
    return ResolvedSession(actor, row.id, user=user, created_at=row.created_at)


async def end_session(session: AsyncSession, *, token: str, now: datetime) -> None:
    row = (
        await session.execute(
            select(UserSession).where(col(UserSession.token_hash) == hash_token(token))
        )
    ).scalar_one_or_none()
    if row is None or row.ended_at is not None:
        return
    row.ended_at = now
    row.ended_reason = "logout"
    user = await session.get(User, row.user_id)
    audit.record(
        session,
        Action.logout,
        "session",
        row.id,
        user_id=row.user_id,
        role=user.role.value if user else None,
    )
