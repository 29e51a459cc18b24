"""Domain services: accounts, sign-in with lockout, server-side sessions with idle logoff."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import (
    Credential,
    PatientProfile,
    PrescriberProfile,
    Role,
    User,
    UserSession,
)
from telehealth.auth.npi import npi_is_valid
from telehealth.auth.passwords import MIN_PASSWORD_LENGTH, hash_password
from telehealth.auth.policy import Actor, can_deactivate, ensure_role
from telehealth.db import is_row_id
from telehealth.errors import Conflict, InvalidInput, NotFound
from telehealth.usstates import US_STATES
from telehealth.visits import states

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# UserSession.purpose of a join-link session that may only answer questionnaires.
QUESTIONNAIRES_PURPOSE = "questionnaires"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_state(value: Any, field: str) -> str:
    state = str(value or "").strip().upper()
    if state not in US_STATES:
        raise InvalidInput(f"{field} must be a two-letter US state, such as NY.", field=field)
    return state


def check_timezone(value: Any, field: str = "timezone") -> str:
    name = str(value or "").strip()
    try:
        if name not in available_timezones():
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            f"{field} must be an IANA time zone, such as America/New_York.", field=field
        ) from None
    return name


def _required(data: dict[str, Any], field: str, max_len: int = 200) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} is required.", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput(f"{field} must be at most {max_len} characters.", field=field)
    return value


def _date(value: Any, field: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a date as YYYY-MM-DD.", field=field) from None


def _string_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(f"{field} must be a list of strings.", field=field)
    return [v.strip() for v in value if v.strip()]


async def create_user(
    session: AsyncSession, *, actor: Actor | None, data: dict[str, Any], now: datetime
) -> User:
    """Create an account of any role. `actor` None means the operator's console (CLI)."""
    if actor is not None:
        ensure_role(actor, Role.admin)
    username = _required(data, "username", 150).lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username may use letters, digits, '.', '_', '@' and '-' (2 to 150 characters).",
            field="username",
        )
    try:
        role = Role(str(data.get("role")))
    except ValueError:
        raise InvalidInput(
            "role must be one of patient, prescriber, scheduler, admin.", field="role"
        ) from None
    full_name = _required(data, "full_name")
    password = data.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidInput("password must be a string.", field="password")
    if role is not Role.patient and not password:
        raise InvalidInput("password is required for staff accounts.", field="password")
    if password and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    existing = await session.execute(select(col(User.id)).where(col(User.username) == username))
    if existing.first() is not None:
        raise Conflict("That username is taken. Choose another.", code="username_taken")

    email = data.get("email")
    if email in ("", None):
        email = None
    elif not isinstance(email, str) or not _EMAIL.match(email):
        raise InvalidInput("email must be an email address.", field="email")
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
        # Staff are reached here (safety escalations); a patient's address is on the profile.
        email=None if role is Role.patient else email,
        created_at=now,
    )
    session.add(user)
    await session.flush()
    assert user.id is not None

    if role is Role.patient:
        dob = _date(data.get("date_of_birth"), "date_of_birth")
        if dob > now.date():
            raise InvalidInput("date_of_birth cannot be in the future.", field="date_of_birth")
        if dob.year < 1900:
            raise InvalidInput("date_of_birth must be in 1900 or later.", field="date_of_birth")
        session.add(
            PatientProfile(
                user_id=user.id,
                date_of_birth=dob,
                state=check_state(data.get("state"), "state"),
                timezone=check_timezone(data.get("timezone")),
                email=email,
                phone=(str(data["phone"])[:32] if data.get("phone") else None),
                allergies=_string_list(data.get("allergies"), "allergies"),
                intake_medications=_string_list(
                    data.get("current_medications"), "current_medications"
                ),
            )
        )
    elif role is Role.prescriber:
        await _add_prescriber_profile(session, user.id, data)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "user",
        user.id,
        patient_id=user.id if role is Role.patient else None,
        detail={"granted_role": role.value},
    )
    return user


async def _add_prescriber_profile(
    session: AsyncSession, user_id: int, data: dict[str, Any]
) -> None:
    try:
        credential = Credential(str(data.get("credential")))
    except ValueError:
        raise InvalidInput(
            "credential must be one of MD, DO, NP, PA.", field="credential"
        ) from None
    npi = str(data.get("npi") or "")
    if not npi_is_valid(npi):
        raise InvalidInput(
            "npi must be a 10-digit National Provider Identifier with a valid check digit.",
            field="npi",
        )
    taken = await session.execute(
        select(col(PrescriberProfile.user_id)).where(col(PrescriberProfile.npi) == npi)
    )
    if taken.first() is not None:
        raise Conflict("Another prescriber has that NPI.", code="npi_taken")
    states = _string_list(data.get("licensed_states"), "licensed_states")
    if not states:
        raise InvalidInput("licensed_states must list at least one state.", field="licensed_states")
    states = sorted({check_state(s, "licensed_states") for s in states})
    supervisor_id = data.get("supervising_prescriber_id")
    if credential is Credential.PA:
        if not is_row_id(supervisor_id):
            raise InvalidInput(
                "A physician assistant needs supervising_prescriber_id (a psychiatrist's id).",
                field="supervising_prescriber_id",
            )
        supervisor = await session.get(PrescriberProfile, supervisor_id)
        if supervisor is None or supervisor.credential not in (Credential.MD, Credential.DO):
            raise InvalidInput(
                "supervising_prescriber_id must be a physician (MD or DO) prescriber.",
                field="supervising_prescriber_id",
            )
    elif supervisor_id is not None:
        raise InvalidInput(
            "Only a physician assistant has a supervising prescriber.",
            field="supervising_prescriber_id",
        )
    va = data.get("va_practitioner", False)
    if not isinstance(va, bool):
        raise InvalidInput("va_practitioner must be true or false.", field="va_practitioner")
    session.add(
        PrescriberProfile(
            user_id=user_id,
            credential=credential,
            npi=npi,
            licensed_states=states,
            timezone=check_timezone(data.get("timezone")),
            supervising_prescriber_id=supervisor_id if credential is Credential.PA else None,
            va_practitioner=va,
        )
    )


async def find_account(session: AsyncSession, username: str) -> User | None:
    """The account a sign-in names, read without a lock: its password is checked after the
    transaction ends (see telehealth/http/api_auth.sign_in)."""
    return (
        await session.execute(
            select(User).where(col(User.username) == normalise_username(username))
        )
    ).scalar_one_or_none()


def normalise_username(username: str) -> str:
    return username.strip().lower()[:200]


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
    max_age: timedelta | None = None,
    touch: bool = True,
) -> ResolvedSession:
    """Find the actor behind a cookie; end the session if it sat idle too long, or if it
    is older than `max_age` however busy it has been."""
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
    if row.visit_id is not None and not await _join_session_still_valid(session, row):
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


async def _join_session_still_valid(session: AsyncSession, row: UserSession) -> bool:
    """A session from a join link lasts while its visit is the one the link opened: moving
    or cancelling the visit (which bumps its sequence) ends it, like the link itself."""
    from telehealth.visits.models import Visit

    visit = await session.get(Visit, row.visit_id)
    if visit is None or visit.status in states.VOID:
        return False
    return row.visit_sequence is None or row.visit_sequence == visit.sequence


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


async def get_user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


async def list_users(
    session: AsyncSession, *, actor: Actor, role: Role | None = None
) -> list[User]:
    ensure_role(actor, Role.admin)
    query = select(User).order_by(col(User.role), col(User.username))
    if role is not None:
        query = query.where(col(User.role) == role)
    users = list((await session.execute(query)).scalars().all())
    audit.record(session, Action.read, "user_list", detail={"count": len(users)})
    for user in users:
        if user.role is Role.patient:
            # A patient's name in a list is a read of that patient: their access report
            # must show it.
            audit.record(
                session, Action.read, "user", user.id, patient_id=user.id, detail={"via": "list"}
            )
    return users


async def change_account(
    session: AsyncSession,
    *,
    actor: Actor,
    user_id: int,
    active: bool | None,
    unlock: bool,
    now: datetime,
    throttled: bool = False,
) -> User:
    """Deactivate, reactivate or unlock an account. Deactivating ends its sessions.
    `throttled`: the sign-in throttle held a lock of this account (the caller lifted it)."""
    ensure_role(actor, Role.admin)
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound()
    if active is False and not can_deactivate(actor, user_id):
        raise Conflict("You cannot deactivate your own account.", code="self_deactivation")
    changes: dict[str, Any] = {}
    if active is not None and active != user.is_active:
        user.is_active = active
        changes["active"] = active
        if not active:
            await session.execute(
                update(UserSession)
                .where(col(UserSession.user_id) == user_id, col(UserSession.ended_at).is_(None))
                .values(ended_at=now, ended_reason="deactivated")
            )
    if unlock and (throttled or user.locked_until is not None or user.failed_logins):
        user.locked_until = None
        user.failed_logins = 0
        changes["unlocked"] = True
    audit.record(
        session,
        Action.update,
        "user",
        user.id,
        patient_id=user.id if user.role is Role.patient else None,
        detail={"privilege_change": changes},
    )
    return user
