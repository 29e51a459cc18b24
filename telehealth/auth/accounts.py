"""Domain services: accounts and their profiles, and the checks on an account's fields.

Values arrive typed (`NewAccount`); the checks here are the practice's rules on them (a
username's form, a US state, an IANA zone, a valid NPI, a PA's supervising physician), the
same for the API, the console and the demo data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action
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

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME_LENGTH = 200
MAX_USERNAME_LENGTH = 150


@dataclass(frozen=True)
class NewAccount:
    """What an account is made from. Profile fields apply to their role only: a patient's
    date of birth, state and zone; a prescriber's credential, NPI, licences and zone."""

    username: str
    role: Role
    full_name: str
    password: str | None = None
    email: str | None = None
    # Patients
    date_of_birth: date | None = None
    state: str | None = None
    timezone: str | None = None
    phone: str | None = None
    allergies: tuple[str, ...] = ()
    current_medications: tuple[str, ...] = ()
    # Prescribers
    credential: Credential | None = None
    npi: str | None = None
    licensed_states: tuple[str, ...] = ()
    supervising_prescriber_id: int | None = None
    va_practitioner: bool = False


def parse_role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise InvalidInput(
            "role must be one of patient, prescriber, scheduler, admin.", field="role"
        ) from None


def parse_credential(value: object) -> Credential:
    try:
        return Credential(str(value))
    except ValueError:
        raise InvalidInput(
            "credential must be one of MD, DO, NP, PA.", field="credential"
        ) from None


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


def check_username(value: str) -> str:
    username = _required(value, "username", MAX_USERNAME_LENGTH).lower()
    if not _USERNAME.match(username):
        raise InvalidInput(
            "username may use letters, digits, '.', '_', '@' and '-' (2 to 150 characters).",
            field="username",
        )
    return username


def check_email(value: str | None) -> str | None:
    if not value:
        return None
    if not _EMAIL.match(value):
        raise InvalidInput("email must be an email address.", field="email")
    return value


def check_password(role: Role, password: str | None) -> str | None:
    if role is not Role.patient and not password:
        raise InvalidInput("password is required for staff accounts.", field="password")
    if password and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )
    return password or None


def check_date_of_birth(value: date | None, today: date) -> date:
    if value is None:
        raise InvalidInput("date_of_birth must be a date as YYYY-MM-DD.", field="date_of_birth")
    if value > today:
        raise InvalidInput("date_of_birth cannot be in the future.", field="date_of_birth")
    if value.year < 1900:
        raise InvalidInput("date_of_birth must be in 1900 or later.", field="date_of_birth")
    return value


def _required(value: str | None, field: str, max_len: int = MAX_NAME_LENGTH) -> str:
    if value is None or not value.strip():
        raise InvalidInput(f"{field} is required.", field=field)
    value = value.strip()
    if len(value) > max_len:
        raise InvalidInput(f"{field} must be at most {max_len} characters.", field=field)
    return value


def _strings(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for v in values if v.strip()]


async def create_user(
    session: AsyncSession, *, actor: Actor | None, account: NewAccount, now: datetime
) -> User:
    """Create an account of any role. `actor` None means the operator's console (CLI)."""
    if actor is not None:
        ensure_role(actor, Role.admin)
    username = check_username(account.username)
    role = account.role
    full_name = _required(account.full_name, "full_name")
    password = check_password(role, account.password)
    existing = await session.execute(select(col(User.id)).where(col(User.username) == username))
    if existing.first() is not None:
        raise Conflict("That username is taken. Choose another.", code="username_taken")
    email = check_email(account.email)
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
        session.add(
            PatientProfile(
                user_id=user.id,
                date_of_birth=check_date_of_birth(account.date_of_birth, now.date()),
                state=check_state(account.state, "state"),
                timezone=check_timezone(account.timezone),
                email=email,
                phone=account.phone[:32] if account.phone else None,
                allergies=_strings(account.allergies),
                intake_medications=_strings(account.current_medications),
            )
        )
    elif role is Role.prescriber:
        await _add_prescriber_profile(session, user.id, account)
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


async def _add_prescriber_profile(session: AsyncSession, user_id: int, account: NewAccount) -> None:
    credential = parse_credential(account.credential)
    npi = account.npi or ""
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
    states = _strings(account.licensed_states)
    if not states:
        raise InvalidInput("licensed_states must list at least one state.", field="licensed_states")
    states = sorted({check_state(s, "licensed_states") for s in states})
    supervisor_id = account.supervising_prescriber_id
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
    session.add(
        PrescriberProfile(
            user_id=user_id,
            credential=credential,
            npi=npi,
            licensed_states=states,
            timezone=check_timezone(account.timezone),
            supervising_prescriber_id=supervisor_id if credential is Credential.PA else None,
            va_practitioner=account.va_practitioner,
        )
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
