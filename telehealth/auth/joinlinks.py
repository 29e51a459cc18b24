"""Domain: signed join links for telehealth visits, opened with the patient's date of birth.

A token is an HMAC (keyed with the server secret) over the visit id and the visit's
`sequence`. Rescheduling or cancelling bumps the sequence, so every older link stops matching.
Every way a link can fail answers the same way (None), so a caller learns nothing about
which part was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import JoinAttempt, PatientProfile, User
from telehealth.auth.service import hash_token, start_session
from telehealth.visits.models import ACTIVE_STATUSES, Modality, Visit

OPENS_BEFORE = timedelta(minutes=30)
_PAYLOAD = struct.Struct(">QI")
_DOMAIN = b"telehealth-join-link:v1:"


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _DOMAIN + payload, hashlib.sha256).digest()


def _mask(secret: str, mac: bytes) -> bytes:
    # The ids are hidden too (not only signed), so a link says nothing about visit numbers.
    key = hmac.new(secret.encode(), b"telehealth-join-mask:" + mac, hashlib.sha256).digest()
    return key[: _PAYLOAD.size]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def make_token(visit: Visit, secret: str) -> str:
    assert visit.id is not None
    payload = _PAYLOAD.pack(visit.id, visit.sequence)
    mac = _mac(secret, payload)
    raw = mac + _xor(payload, _mask(secret, mac))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_token(token: str, secret: str) -> tuple[int, int] | None:
    """(visit id, sequence) if the token is well formed and signed with `secret`."""
    if not isinstance(token, str) or not 40 <= len(token) <= 100:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != _PAYLOAD.size + 32:
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != token:
        # One spelling per link: the try counter is keyed on the token text.
        return None
    mac, masked = raw[:32], raw[32:]
    payload = _xor(masked, _mask(secret, mac))
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    visit_id, sequence = _PAYLOAD.unpack(payload)
    return int(visit_id), int(sequence)


def join_url(base_url: str, visit: Visit, secret: str) -> str:
    return f"{base_url.rstrip('/')}/join/{make_token(visit, secret)}"


def link_is_live(visit: Visit, now: datetime) -> bool:
    """Open from 30 minutes before the start until the visit's end, while it is active."""
    return (
        visit.modality is Modality.telehealth
        and visit.status in ACTIVE_STATUSES
        and visit.start - OPENS_BEFORE <= now < visit.end
    )


def questionnaire_link_is_live(visit: Visit, now: datetime) -> bool:
    """The same link opens the visit's questionnaires from booking until the visit's end
    (the reminder email sends the patient there a day before)."""
    return visit.status in ACTIVE_STATUSES and now < visit.end


def questionnaire_url(base_url: str, visit: Visit, secret: str) -> str:
    return f"{base_url.rstrip('/')}/questionnaires/{make_token(visit, secret)}"


@dataclass(frozen=True)
class JoinOpened:
    visit: Visit
    user: User
    session_token: str


async def open_join_link(
    session: AsyncSession,
    *,
    token: str,
    date_of_birth: str,
    now: datetime,
    secret: str,
    max_attempts: int,
    source_address: str | None,
    purpose: str | None = None,
) -> JoinOpened | None:
    """A session limited to the link's visit, or None for any mismatch (the caller answers
    404 without raising, so the failed-try counter is committed).

    With `purpose` "questionnaires" the session may only answer the visit's questionnaires,
    and the link opens from booking on instead of 30 minutes before the start."""
    decoded = read_token(token, secret)
    if decoded is None:
        _refuse(session, None, None, "bad_token")
        return None
    visit_id, sequence = decoded
    # The row lock serialises tries on one link, so the try limit holds under concurrency.
    visit = await session.get(Visit, visit_id, with_for_update=True)
    if visit is None:
        _refuse(session, visit_id, None, "no_visit")
        return None
    if visit.sequence != sequence:
        _refuse(session, visit_id, visit.patient_id, "superseded")
        return None
    live = questionnaire_link_is_live(visit, now) if purpose else link_is_live(visit, now)
    if not live:
        _refuse(session, visit_id, visit.patient_id, "not_open")
        return None
    token_hash = hash_token(token)
    failures = (
        await session.execute(
            select(func.count())
            .select_from(JoinAttempt)
            .where(col(JoinAttempt.token_hash) == token_hash)
        )
    ).scalar_one()
    if failures >= max_attempts:
        _refuse(session, visit_id, visit.patient_id, "too_many_tries")
        return None
    profile = await session.get(PatientProfile, visit.patient_id)
    user = await session.get(User, visit.patient_id)
    if profile is None or user is None or not user.is_active:
        _refuse(session, visit_id, visit.patient_id, "no_patient")
        return None
    if _parse_date(date_of_birth) != profile.date_of_birth:
        session.add(JoinAttempt(token_hash=token_hash, at=now))
        _refuse(session, visit_id, visit.patient_id, "wrong_date_of_birth")
        return None
    assert visit.id is not None
    session_token = await start_session(
        session,
        user=user,
        now=now,
        source_address=source_address,
        visit_id=visit.id,
        visit_sequence=visit.sequence,
        purpose=purpose,
    )
    return JoinOpened(visit=visit, user=user, session_token=session_token)


def _parse_date(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def _refuse(
    session: AsyncSession, visit_id: int | None, patient_id: int | None, reason: str
) -> None:
    audit.record(
        session,
        Action.access_denied,
        "join_link",
        visit_id,
        patient_id=patient_id,
        outcome=Outcome.failure,
        detail={"reason": reason},
    )
    return None
