"""Domain (visits): signed join links, opened with the patient's date of birth, and the
one join window of a visit.

A token is an HMAC (keyed with the server secret) over the visit id and the visit's
`sequence`. Rescheduling or cancelling bumps the sequence, so every older link stops matching.
Until the date of birth matches, every way a link can fail answers the same way, so a
caller learns nothing about which part was wrong; after it matches, the patient is told why
the visit cannot be joined now.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import JoinAttempt, PatientProfile, User
from telehealth.auth.sessions import hash_token, start_session
from telehealth.visits import states
from telehealth.visits.models import Modality, Visit, VisitStatus

# A visit can be joined from this long before its start (the link, check-in, the call).
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


class JoinWindow(StrEnum):
    """Where an instant falls against a visit's time for joining it."""

    early = "early"
    open = "open"
    over = "over"


def join_window(visit: Visit, now: datetime) -> JoinWindow:
    """The one rule of when a visit can be joined (its link opened, checked in to, its call
    entered): from OPENS_BEFORE before its start until its scheduled end, the end itself
    excluded."""
    if now < opens_at(visit):
        return JoinWindow.early
    if now >= visit.end:
        return JoinWindow.over
    return JoinWindow.open


def opens_at(visit: Visit) -> datetime:
    return visit.start - OPENS_BEFORE


def link_is_live(visit: Visit, now: datetime) -> bool:
    """A telehealth visit that is active, inside its join window."""
    return (
        visit.modality is Modality.telehealth
        and visit.status in states.ACTIVE
        and join_window(visit, now) is JoinWindow.open
    )


def questionnaire_link_is_live(visit: Visit, now: datetime) -> bool:
    """The same link opens the visit's questionnaires from booking until the visit's end
    (the reminder email sends the patient there a day before)."""
    return visit.status in states.ACTIVE and now < visit.end


def questionnaire_url(base_url: str, visit: Visit, secret: str) -> str:
    return f"{base_url.rstrip('/')}/questionnaires/{make_token(visit, secret)}"


@dataclass(frozen=True)
class JoinOpened:
    visit: Visit
    user: User
    session_token: str

    @property
    def finished(self) -> bool:
        """Opened after the visit ended: the session is for reading its summary."""
        return self.visit.status is VisitStatus.finished


class JoinRefusal(StrEnum):
    """Why a link did not open. Only the first two are said before the date of birth is
    right; the others tell the truth to the patient who has proved who they are."""

    not_found = "not_found"  # unknown token, wrong date of birth: one neutral answer
    link_locked = "link_locked"  # too many wrong dates: every date gets this now
    too_early = "too_early"
    visit_moved = "visit_moved"
    visit_cancelled = "visit_cancelled"
    visit_over = "visit_over"  # its time passed without it taking place


@dataclass(frozen=True)
class JoinRefused:
    reason: JoinRefusal
    opens_at: datetime | None = None
    start: datetime | None = None
    timezone: str = "UTC"


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
) -> JoinOpened | JoinRefused:
    """A session limited to the link's visit, or why not (returned, not raised, so the
    failed-try counter is committed).

    Before the date of birth matches, every failure looks the same (except a locked link,
    which says so to every date). After it matches, the patient is told the truth: too
    early (and when it opens), moved (to when), cancelled, or over; a finished visit opens
    a session of that visit, for its summary.

    With `purpose` "questionnaires" the session may only answer the visit's questionnaires,
    the link opens from booking on, and every refusal stays the one neutral answer.
    """
    neutral = JoinRefused(JoinRefusal.not_found)
    decoded = read_token(token, secret)
    if decoded is None:
        _refuse(session, None, None, "bad_token")
        return neutral
    visit_id, sequence = decoded
    # The row lock serialises tries on one link, so the try limit holds under concurrency.
    visit = await session.get(Visit, visit_id, with_for_update=True)
    if visit is None or visit.modality is not Modality.telehealth:
        _refuse(session, visit_id, None, "no_visit")
        return neutral
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
        return JoinRefused(JoinRefusal.link_locked)
    profile = await session.get(PatientProfile, visit.patient_id)
    user = await session.get(User, visit.patient_id)
    if profile is None or user is None or not user.is_active:
        _refuse(session, visit_id, visit.patient_id, "no_patient")
        return neutral
    if _parse_date(date_of_birth) != profile.date_of_birth:
        session.add(JoinAttempt(token_hash=token_hash, at=now))
        _refuse(session, visit_id, visit.patient_id, "wrong_date_of_birth")
        return neutral
    if purpose is not None:
        if visit.sequence != sequence or not questionnaire_link_is_live(visit, now):
            _refuse(session, visit_id, visit.patient_id, "not_open")
            return neutral
    elif (refused := _not_joinable(session, visit, sequence, profile.timezone, now)) is not None:
        return refused
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


def _not_joinable(
    session: AsyncSession, visit: Visit, sequence: int, zone: str, now: datetime
) -> JoinRefused | None:
    """Why a patient who proved who they are cannot join now; None when they can (a
    finished visit opens, for its summary)."""
    visit_id = visit.id
    if visit.status is VisitStatus.cancelled:
        _refuse(session, visit_id, visit.patient_id, "cancelled")
        return JoinRefused(JoinRefusal.visit_cancelled, timezone=zone)
    if visit.sequence != sequence and visit.status is not VisitStatus.finished:
        _refuse(session, visit_id, visit.patient_id, "superseded")
        return JoinRefused(JoinRefusal.visit_moved, start=visit.start, timezone=zone)
    if visit.status is not VisitStatus.finished:
        if join_window(visit, now) is JoinWindow.early:
            _refuse(session, visit_id, visit.patient_id, "too_early")
            return JoinRefused(
                JoinRefusal.too_early, opens_at=opens_at(visit), start=visit.start, timezone=zone
            )
        if not link_is_live(visit, now):
            _refuse(session, visit_id, visit.patient_id, "visit_over")
            return JoinRefused(JoinRefusal.visit_over, start=visit.start, timezone=zone)
    return None


async def join_session_still_valid(
    session: AsyncSession, *, visit_id: int, sequence: int | None
) -> bool:
    """A session from a join link lasts while its visit is the one the link opened: moving
    or cancelling the visit (which bumps its sequence) ends it, like the link itself.
    (auth.sessions.resolve_session asks this as its `scope_check`.)"""
    visit = await session.get(Visit, visit_id)
    if visit is None or visit.status in states.VOID:
        return False
    return sequence is None or sequence == visit.sequence


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
