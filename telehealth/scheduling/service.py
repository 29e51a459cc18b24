"""Domain services: availability, free slots, booking, rescheduling, cancelling, no-shows.

Double-booking is prevented by the database, not by a check before insert: an active visit
holds one `TimeClaim` row per 5-minute cell of its prescriber's time (the visit plus the
buffer after it) and of its patient's time, and (party, party_id, cell_start) is unique. Two
overlapping visits would need the same row, so one of the two inserts fails.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, Outcome, record_visit
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor, ensure_full_session, ensure_role
from telehealth.config import Settings
from telehealth.db import is_row_id
from telehealth.errors import Conflict, InvalidInput, InvalidTransition, NotFound
from telehealth.notify.models import EmailKind
from telehealth.notify.outbox import queue_reminder, queue_visit_email
from telehealth.scheduling import ics
from telehealth.scheduling import slots as sl
from telehealth.scheduling.models import AvailabilityException, AvailabilityRule, TimeClaim
from telehealth.scheduling.policy import (
    can_see_join_link,
    ensure_can_book,
    ensure_can_book_on,
    ensure_can_edit_availability,
    is_licensed_for,
)
from telehealth.timefmt import format_hhmm
from telehealth.visits import joinlinks, states
from telehealth.visits.access import get_visit_for
from telehealth.visits.medlist import treats
from telehealth.visits.models import (
    MedicationOrder,
    Modality,
    Visit,
    VisitEvent,
    VisitNote,
    VisitStatus,
    VisitType,
)

MAX_SLOT_RANGE = timedelta(days=62)
MAX_LIST_RANGE = timedelta(days=366)
MAX_BUFFER_MINUTES = 120
MAX_RANGES_PER_DAY = 12
MAX_EXCEPTIONS = 366
# Ids are the database's 32-bit integer keys. A larger one names no record (and the driver
# would fail on it before the query ran), so it is answered like any other unknown id.
# Dates outside these years are typing mistakes; refusing them also keeps the zone and
# day arithmetic away from datetime's year 1 and year 9999 limits.
MIN_YEAR = 1900
MAX_YEAR = 2200
PRESCRIBER = "prescriber"
PATIENT = "patient"


@dataclass(frozen=True)
class BookingRules:
    """The practice's settings that booking needs, as plain values."""

    initial_evaluation_minutes: int = 60
    follow_up_minutes: int = 30
    slot_step_minutes: int = 15

    @classmethod
    def from_settings(cls, settings: Settings) -> BookingRules:
        return cls(
            settings.initial_evaluation_minutes,
            settings.follow_up_minutes,
            settings.slot_step_minutes,
        )

    def length(self, visit_type: VisitType) -> timedelta:
        minutes = (
            self.initial_evaluation_minutes
            if visit_type is VisitType.initial_evaluation
            else self.follow_up_minutes
        )
        return timedelta(minutes=minutes)


@dataclass(frozen=True)
class Availability:
    prescriber_id: int
    timezone: str
    buffer_minutes: int
    weekly: list[dict[str, Any]]
    exceptions: list[dict[str, Any]]


def ensure_sane_date(value: date, field: str) -> None:
    """A date or date-time (a datetime is a date) within the years the practice can use."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise InvalidInput(
            f"{field} must be between the years {MIN_YEAR} and {MAX_YEAR}.", field=field
        )


# ---------------------------------------------------------------- availability


def _parse_weekly(items: object) -> list[sl.WeeklyRange]:
    if not isinstance(items, list):
        raise InvalidInput("weekly must be a list of {weekday, start, end}.", field="weekly")
    out: list[sl.WeeklyRange] = []
    for n, item in enumerate(items):
        field = f"weekly[{n}]"
        if not isinstance(item, dict):
            raise InvalidInput(
                f"{field} must be an object with weekday, start and end.", field="weekly"
            )
        weekday = item.get("weekday")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise InvalidInput(f"{field}.weekday must be 0 (Monday) to 6 (Sunday).", field="weekly")
        try:
            out.append(
                sl.WeeklyRange(weekday, sl.parse_range(item.get("start"), item.get("end"), field))
            )
        except sl.SlotError as exc:
            raise InvalidInput(str(exc), field="weekly") from None
    for weekday in range(7):
        if sum(1 for w in out if w.weekday == weekday) > MAX_RANGES_PER_DAY:
            raise InvalidInput(
                f"A day can have at most {MAX_RANGES_PER_DAY} ranges of hours.", field="weekly"
            )
    return out


def _parse_exceptions(items: object) -> list[sl.DateException]:
    if items is None:
        return []
    if not isinstance(items, list):
        raise InvalidInput("exceptions must be a list.", field="exceptions")
    if len(items) > MAX_EXCEPTIONS:
        raise InvalidInput(
            f"Give at most {MAX_EXCEPTIONS} exceptions. Remove old ones that have passed.",
            field="exceptions",
        )
    out: list[sl.DateException] = []
    for n, item in enumerate(items):
        field = f"exceptions[{n}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{field} must be an object with a date.", field="exceptions")
        try:
            on = date.fromisoformat(str(item.get("date")))
        except ValueError:
            raise InvalidInput(
                f"{field}.date must be a date as YYYY-MM-DD.", field="exceptions"
            ) from None
        if not MIN_YEAR <= on.year <= MAX_YEAR:
            raise InvalidInput(
                f"{field}.date must be between the years {MIN_YEAR} and {MAX_YEAR}.",
                field="exceptions",
            )
        available = item.get("available", True)
        if not isinstance(available, bool):
            raise InvalidInput(f"{field}.available must be true or false.", field="exceptions")
        has_times = item.get("start") is not None or item.get("end") is not None
        if available and not has_times:
            raise InvalidInput(
                f'{field} needs start and end, or "available": false.', field="exceptions"
            )
        try:
            rng = sl.parse_range(item.get("start"), item.get("end"), field) if has_times else None
        except sl.SlotError as exc:
            raise InvalidInput(str(exc), field="exceptions") from None
        out.append(sl.DateException(on, available, rng))
    return out


async def _prescriber(session: AsyncSession, prescriber_id: int) -> tuple[User, PrescriberProfile]:
    if not is_row_id(prescriber_id):
        raise NotFound()
    user = await session.get(User, prescriber_id)
    profile = await session.get(PrescriberProfile, prescriber_id)
    if user is None or profile is None or user.role is not Role.prescriber:
        raise NotFound()
    return user, profile


async def set_availability(
    session: AsyncSession,
    *,
    actor: Actor | None,
    prescriber_id: int,
    weekly: object,
    exceptions: object,
    buffer_minutes: int | None = None,
    only_if_empty: bool = False,
) -> Availability:
    """Replace a prescriber's weekly template and exceptions. `actor` None is the operator."""
    ensure_can_edit_availability(actor, prescriber_id)
    _, profile = await _prescriber(session, prescriber_id)
    rules = _parse_weekly(weekly)
    exc = _parse_exceptions(exceptions)
    if buffer_minutes is not None and (
        isinstance(buffer_minutes, bool)
        or not isinstance(buffer_minutes, int)
        or not 0 <= buffer_minutes <= MAX_BUFFER_MINUTES
        or buffer_minutes % sl.CELL_MINUTES
    ):
        raise InvalidInput(
            f"buffer_minutes must be a multiple of {sl.CELL_MINUTES} from 0 to "
            f"{MAX_BUFFER_MINUTES}.",
            field="buffer_minutes",
        )
    if only_if_empty:
        existing = await session.execute(
            select(col(AvailabilityRule.id))
            .where(col(AvailabilityRule.prescriber_id) == prescriber_id)
            .limit(1)
        )
        if existing.first() is not None:
            return await get_availability(session, actor=actor, prescriber_id=prescriber_id)
    await session.execute(
        delete(AvailabilityRule).where(col(AvailabilityRule.prescriber_id) == prescriber_id)
    )
    await session.execute(
        delete(AvailabilityException).where(
            col(AvailabilityException.prescriber_id) == prescriber_id
        )
    )
    for rule in rules:
        session.add(
            AvailabilityRule(
                prescriber_id=prescriber_id,
                weekday=rule.weekday,
                start_time=format_hhmm(rule.range.start),
                end_time=format_hhmm(rule.range.end),
            )
        )
    for e in exc:
        session.add(
            AvailabilityException(
                prescriber_id=prescriber_id,
                on_date=e.on,
                available=e.available,
                start_time=format_hhmm(e.range.start) if e.range else None,
                end_time=format_hhmm(e.range.end) if e.range else None,
            )
        )
    if buffer_minutes is not None:
        profile.buffer_minutes = buffer_minutes
    await session.flush()
    audit.record(
        session,
        Action.update,
        "availability",
        prescriber_id,
        detail={
            "weekly_ranges": len(rules),
            "exceptions": len(exc),
            "buffer_minutes": profile.buffer_minutes,
        },
    )
    return await get_availability(session, actor=actor, prescriber_id=prescriber_id)


async def _load_template(
    session: AsyncSession, prescriber_id: int
) -> tuple[list[sl.WeeklyRange], list[sl.DateException]]:
    rules = (
        (
            await session.execute(
                select(AvailabilityRule).where(col(AvailabilityRule.prescriber_id) == prescriber_id)
            )
        )
        .scalars()
        .all()
    )
    excs = (
        (
            await session.execute(
                select(AvailabilityException).where(
                    col(AvailabilityException.prescriber_id) == prescriber_id
                )
            )
        )
        .scalars()
        .all()
    )
    weekly = [
        sl.WeeklyRange(r.weekday, sl.parse_range(r.start_time, r.end_time, "stored")) for r in rules
    ]
    dated = [
        sl.DateException(
            e.on_date,
            e.available,
            sl.parse_range(e.start_time, e.end_time, "stored") if e.start_time else None,
        )
        for e in excs
    ]
    return weekly, dated


async def get_availability(
    session: AsyncSession, *, actor: Actor | None, prescriber_id: int
) -> Availability:
    if actor is not None:
        ensure_role(actor, Role.admin, Role.scheduler, Role.prescriber)
    _, profile = await _prescriber(session, prescriber_id)
    weekly, dated = await _load_template(session, prescriber_id)
    return Availability(
        prescriber_id=prescriber_id,
        timezone=profile.timezone,
        buffer_minutes=profile.buffer_minutes,
        weekly=[
            {
                "weekday": w.weekday,
                "start": format_hhmm(w.range.start),
                "end": format_hhmm(w.range.end),
            }
            for w in sorted(weekly, key=lambda w: (w.weekday, w.range.minutes()))
        ],
        exceptions=[
            {"date": e.on.isoformat(), "available": e.available}
            | (
                {"start": format_hhmm(e.range.start), "end": format_hhmm(e.range.end)}
                if e.range
                else {}
            )
            for e in sorted(dated, key=lambda e: e.on)
        ],
    )


# ---------------------------------------------------------------- slots


async def _windows(
    session: AsyncSession, profile: PrescriberProfile, start: datetime, end: datetime
) -> list[sl.Interval]:
    weekly, dated = await _load_template(session, profile.user_id)
    return sl.windows(start, end, ZoneInfo(profile.timezone), weekly, dated)


async def _taken_cells(
    session: AsyncSession, party: str, party_id: int, start: datetime, end: datetime
) -> set[datetime]:
    rows = await session.execute(
        select(col(TimeClaim.cell_start)).where(
            col(TimeClaim.party) == party,
            col(TimeClaim.party_id) == party_id,
            col(TimeClaim.cell_start) >= start,
            col(TimeClaim.cell_start) < end,
        )
    )
    return set(rows.scalars().all())


def _check_range(start: datetime, end: datetime, limit: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end must include a UTC offset, such as Z or -05:00.")
    if end <= start:
        raise InvalidInput("end must be after start.", field="end")
    if end - start > limit:
        raise InvalidInput(f"Ask for at most {limit.days} days at a time.", field="end")


async def ensure_books_for(
    session: AsyncSession, actor: Actor, prescriber_id: int, patient_id: int | None
) -> None:
    """Staff book on any calendar. A prescriber books on their own, for a patient they
    treat; any other patient answers like one that does not exist."""
    ensure_can_book_on(actor, prescriber_id)
    if actor.role is not Role.prescriber or patient_id is None:
        return
    if not is_row_id(patient_id) or not await treats(session, actor.user_id, patient_id):
        audit.record(
            session,
            Action.access_denied,
            "patient_chart",
            patient_id if is_row_id(patient_id) else None,
            outcome=Outcome.failure,
            durable=True,
        )
        raise NotFound()


async def patient_to_book(
    session: AsyncSession, *, actor: Actor, prescriber_id: int, patient_id: int
) -> tuple[User, PatientProfile]:
    """The patient a booking page is for, once the actor may book them on that calendar."""
    await ensure_books_for(session, actor, prescriber_id, patient_id)
    user, profile = await _patient(session, patient_id)
    audit.record(session, Action.read, "patient", patient_id, patient_id=patient_id)
    return user, profile


async def list_slots(
    session: AsyncSession,
    *,
    actor: Actor,
    prescriber_id: int,
    start: datetime,
    end: datetime,
    visit_type: VisitType,
    now: datetime,
    rules: BookingRules,
    patient_id: int | None = None,
) -> list[sl.Interval]:
    """Free starts for one visit of `visit_type` with the prescriber in [start, end)."""
    await ensure_books_for(session, actor, prescriber_id, patient_id)
    ensure_sane_date(start, "start")
    ensure_sane_date(end, "end")
    _check_range(start, end, MAX_SLOT_RANGE)
    _, profile = await _prescriber(session, prescriber_id)
    length = rules.length(visit_type)
    buffer = timedelta(minutes=profile.buffer_minutes)
    wins = await _windows(session, profile, start, end)
    margin = length + buffer + timedelta(days=1)
    taken = await _taken_cells(session, PRESCRIBER, prescriber_id, start - margin, end + margin)
    found = sl.free_slots(
        windows=wins,
        length=length,
        buffer=buffer,
        step=timedelta(minutes=rules.slot_step_minutes),
        taken_cells=taken,
        not_before=now,
        range_start=start,
        range_end=end,
    )
    if patient_id is not None and is_row_id(patient_id):
        # Leaving out the patient's own busy times reads their schedule: audited.
        busy = await _taken_cells(session, PATIENT, patient_id, start - margin, end + margin)
        found = [s for s in found if not any(c in busy for c in sl.cells(s.start, s.end))]
        audit.record(session, Action.read, "patient_schedule", patient_id=patient_id)
    return found


# ---------------------------------------------------------------- booking


async def _patient(session: AsyncSession, patient_id: int) -> tuple[User, PatientProfile]:
    user = await session.get(User, patient_id) if is_row_id(patient_id) else None
    profile = await session.get(PatientProfile, patient_id) if user is not None else None
    if user is None or profile is None or user.role is not Role.patient or not user.is_active:
        raise InvalidInput(
            "patient_id does not match a patient. Search for the patient again.",
            code="unknown_patient",
            field="patient_id",
        )
    return user, profile


async def _bookable_prescriber(
    session: AsyncSession, prescriber_id: int
) -> tuple[User, PrescriberProfile]:
    user = await session.get(User, prescriber_id) if is_row_id(prescriber_id) else None
    profile = await session.get(PrescriberProfile, prescriber_id) if user is not None else None
    if user is None or profile is None or user.role is not Role.prescriber or not user.is_active:
        raise InvalidInput(
            "prescriber_id does not match a prescriber. Pick one from the list.",
            code="unknown_prescriber",
            field="prescriber_id",
        )
    return user, profile


def _claim_rows(visit: Visit, buffer_minutes: int) -> list[dict[str, Any]]:
    assert visit.id is not None
    rows = [
        {"visit_id": visit.id, "party": PATIENT, "party_id": visit.patient_id, "cell_start": c}
        for c in sl.cells(visit.start, visit.end)
    ] + [
        {
            "visit_id": visit.id,
            "party": PRESCRIBER,
            "party_id": visit.prescriber_id,
            "cell_start": c,
        }
        for c in sl.cells(visit.start, visit.end + timedelta(minutes=buffer_minutes))
    ]
    # One global order for every writer: two bookings never wait on each other in a cycle.
    rows.sort(key=lambda r: (r["party"], r["party_id"], r["cell_start"]))
    return rows


async def _claim(
    session: AsyncSession,
    visit: Visit,
    start: datetime,
    end: datetime,
    buffer_minutes: int,
    *,
    release_first: bool,
) -> None:
    """Claim the cells for [start, end) in a savepoint; a taken cell raises slot_taken and
    leaves the transaction as it was (an earlier booking keeps its own claims)."""
    probe = Visit(
        id=visit.id,
        patient_id=visit.patient_id,
        prescriber_id=visit.prescriber_id,
        visit_type=visit.visit_type,
        modality=visit.modality,
        start=start,
        end=end,
    )
    rows = _claim_rows(probe, buffer_minutes)
    try:
        async with session.begin_nested():
            if release_first:
                await session.execute(delete(TimeClaim).where(col(TimeClaim.visit_id) == visit.id))
            await session.execute(insert(TimeClaim), rows)
    except IntegrityError:
        patient_busy = await _taken_cells(session, PATIENT, visit.patient_id, start, end)
        if patient_busy and not release_first:
            raise Conflict(
                "The patient already has a visit at that time. Choose another time.",
                code="slot_taken",
            ) from None
        if patient_busy and release_first:
            mine = await _claimed_by(session, visit)
            if patient_busy - mine:
                raise Conflict(
                    "The patient already has a visit at that time. Choose another time.",
                    code="slot_taken",
                ) from None
        raise Conflict(
            "That time was just taken. Pick another free slot.", code="slot_taken"
        ) from None


async def _claimed_by(session: AsyncSession, visit: Visit) -> set[datetime]:
    rows = await session.execute(
        select(col(TimeClaim.cell_start)).where(
            col(TimeClaim.visit_id) == visit.id, col(TimeClaim.party) == PATIENT
        )
    )
    return set(rows.scalars().all())


async def _release(session: AsyncSession, visit: Visit) -> None:
    await session.execute(delete(TimeClaim).where(col(TimeClaim.visit_id) == visit.id))


async def _check_time(
    session: AsyncSession,
    *,
    profile: PrescriberProfile,
    start: datetime,
    end: datetime,
    now: datetime,
) -> None:
    if start.tzinfo is None:
        raise InvalidInput("start must include a UTC offset, such as Z or -05:00.", field="start")
    if not sl.is_cell_aligned(start):
        raise InvalidInput(
            f"start must be on a {sl.CELL_MINUTES}-minute boundary, such as 10:00 or 10:05.",
            field="start",
        )
    if start < now:
        raise InvalidInput(
            "That time has passed. Pick a time in the future.", code="start_in_past", field="start"
        )
    wins = await _windows(session, profile, start, end)
    if not sl.within_windows(wins, start, end):
        raise InvalidInput(
            "That time is outside the prescriber's availability. Pick one of the free slots.",
            code="outside_availability",
            field="start",
        )


def _check_licence(
    prescriber: User, profile: PrescriberProfile, patient: PatientProfile, modality: Modality
) -> None:
    if modality is Modality.telehealth and not is_licensed_for(profile, patient.state):
        raise InvalidInput(
            f"{prescriber.full_name} is not licensed in {patient.state}, where the patient "
            f"lives. Choose a prescriber licensed in {patient.state}, or book in person.",
            code="not_licensed_in_state",
            field="prescriber_id",
            state=patient.state,
        )


def _event(
    session: AsyncSession,
    visit: Visit,
    kind: str,
    actor: Actor | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> None:
    assert visit.id is not None
    session.add(
        VisitEvent(
            visit_id=visit.id,
            at=now,
            kind=kind,
            actor_id=actor.user_id if actor else None,
            role=actor.role.value if actor else None,
            detail=detail or {},
        )
    )


async def book_visit(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int,
    prescriber_id: int,
    start: datetime,
    visit_type: VisitType,
    modality: Modality,
    now: datetime,
    rules: BookingRules,
) -> Visit:
    await ensure_books_for(session, actor, prescriber_id, patient_id)
    ensure_sane_date(start, "start")
    _, patient_profile = await _patient(session, patient_id)
    prescriber, profile = await _bookable_prescriber(session, prescriber_id)
    _check_licence(prescriber, profile, patient_profile, modality)
    start = start.astimezone(UTC) if start.tzinfo else start
    end = start + rules.length(visit_type)
    await _check_time(session, profile=profile, start=start, end=end, now=now)
    visit = Visit(
        patient_id=patient_id,
        prescriber_id=prescriber_id,
        visit_type=visit_type,
        modality=modality,
        status=VisitStatus.booked,
        start=start,
        end=end,
        sequence=0,
        booked_by_id=actor.user_id,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(visit)
            await session.flush()
    except IntegrityError:  # pragma: no cover - only foreign keys could fail here
        raise InvalidInput("The patient or prescriber no longer exists.") from None
    await _claim(session, visit, start, end, profile.buffer_minutes, release_first=False)
    _event(
        session,
        visit,
        "booked",
        actor,
        now,
        {"start": start.isoformat(), "modality": modality.value},
    )
    audit.record(
        session,
        Action.create,
        "visit",
        visit.id,
        patient_id=patient_id,
        detail={"prescriber_id": prescriber_id, "modality": modality.value},
    )
    await queue_visit_email(session, visit, EmailKind.booked, now)
    await queue_reminder(session, visit, now)
    return visit


async def reschedule_visit(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    start: datetime,
    now: datetime,
) -> Visit:
    """Move a booked visit: same id, new time, sequence bumped (old links and invites lapse).
    If the new time is taken the visit keeps its old time and claims."""
    visit = await _visit_for(session, actor, visit_id, for_update=True)
    ensure_can_book(actor)
    ensure_sane_date(start, "start")
    if visit.status not in states.MOVABLE:
        raise InvalidTransition("Only a booked visit that has not started can be moved.")
    prescriber, profile = await _bookable_prescriber(session, visit.prescriber_id)
    _, patient_profile = await _patient(session, visit.patient_id)
    _check_licence(prescriber, profile, patient_profile, visit.modality)
    start = start.astimezone(UTC) if start.tzinfo else start
    end = start + (visit.end - visit.start)
    await _check_time(session, profile=profile, start=start, end=end, now=now)
    old_start = visit.start
    await _claim(session, visit, start, end, profile.buffer_minutes, release_first=True)
    visit.start, visit.end = start, end
    visit.sequence += 1
    _event(
        session,
        visit,
        "rescheduled",
        actor,
        now,
        {
            "old_start": old_start.isoformat(),
            "new_start": start.isoformat(),
            "sequence": visit.sequence,
        },
    )
    record_visit(
        session, Action.update, visit, detail={"change": "rescheduled", "sequence": visit.sequence}
    )
    await queue_visit_email(session, visit, EmailKind.rescheduled, now)
    await queue_reminder(session, visit, now)
    await session.flush()
    return visit


async def _visit_for(
    session: AsyncSession,
    actor: Actor,
    visit_id: int,
    *,
    roles: tuple[Role, ...] | None = None,
    for_update: bool = False,
) -> Visit:
    if not is_row_id(visit_id):
        raise NotFound()
    return await get_visit_for(session, actor, visit_id, roles=roles, for_update=for_update)


async def has_records(session: AsyncSession, visit: Visit) -> bool:
    """Whether the prescriber has written a note or placed an order on the visit."""
    query = select(
        or_(
            exists().where(col(MedicationOrder.visit_id) == visit.id),
            exists().where(col(VisitNote.visit_id) == visit.id),
        )
    )
    return bool((await session.execute(query)).scalar())


async def _ensure_can_call_off(session: AsyncSession, visit: Visit, doing: str) -> None:
    """A visit that has begun is finished, not called off: otherwise its orders would stay
    active and its draft note could never be signed. The caller holds the visit's row lock,
    as note and order writers do, so no note or order can appear before this commits."""
    if visit.status is VisitStatus.in_progress:
        raise InvalidTransition(
            f"The call has already taken place: finish the visit instead of {doing}."
        )
    if visit.status in states.CANCELLABLE and await has_records(session, visit):
        raise Conflict(
            f"This visit already has a note or orders: finish it instead of {doing}.",
            code="visit_has_records",
        )


async def cancel_visit(
    session: AsyncSession, *, actor: Actor, visit_id: int, reason: object, now: datetime
) -> Visit:
    visit = await _visit_for(session, actor, visit_id, for_update=True)
    ensure_can_book(actor)
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(
            "Give a reason for cancelling (it is kept with the visit).", field="reason"
        )
    if len(reason) > 500:
        raise InvalidInput("reason must be at most 500 characters.", field="reason")
    await _ensure_can_call_off(session, visit, "cancelling it")
    if visit.status not in states.CANCELLABLE:
        raise InvalidTransition("Only a visit that has not started can be cancelled.")
    await _release(session, visit)
    visit.status = VisitStatus.cancelled
    visit.cancelled_at = now
    visit.cancel_reason = reason.strip()
    visit.sequence += 1
    _event(session, visit, "cancelled", actor, now, {"sequence": visit.sequence})
    record_visit(
        session, Action.update, visit, detail={"change": "cancelled", "sequence": visit.sequence}
    )
    await queue_visit_email(session, visit, EmailKind.cancelled, now)
    await session.flush()
    return visit


async def mark_noshow(
    session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime
) -> Visit:
    """The patient did not come: the visit's prescriber, a scheduler or an admin says so,
    once the start time has passed. The time is released."""
    visit = await _visit_for(
        session,
        actor,
        visit_id,
        for_update=True,
        roles=(Role.admin, Role.scheduler, Role.prescriber),
    )
    ensure_full_session(actor)
    await _ensure_can_call_off(session, visit, "marking it as a no-show")
    if visit.status not in states.CANCELLABLE:
        raise InvalidTransition("Only a visit that has not started can be marked as a no-show.")
    if now < visit.start:
        raise InvalidTransition("A visit can be marked as a no-show only after its start time.")
    await _release(session, visit)
    visit.status = VisitStatus.noshow
    _event(session, visit, "noshow", actor, now)
    record_visit(session, Action.update, visit, detail={"change": "noshow"})
    await session.flush()
    return visit


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class VisitView:
    """A visit with the names and zones the pages and invites need."""

    visit: Visit
    patient_name: str
    patient_timezone: str
    patient_state: str
    prescriber_name: str
    prescriber_timezone: str
    has_records: bool = False


async def calendar_invite(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    base_url: str,
    secret: str,
    now: datetime,
) -> tuple[int, bytes]:
    """The visit's invite (.ics) for this reader, in their zone, audited as an export.

    The patient and schedulers get the patient's join link; the prescriber gets the call
    page; the invite names the other party and carries nothing clinical."""
    visit = await get_visit_for(
        session,
        actor,
        visit_id,
        roles=(Role.patient, Role.prescriber, Role.scheduler, Role.admin),
    )
    view = await view_visit(session, visit)
    link: str | None = None
    if can_see_join_link(actor, visit):
        link = joinlinks.join_url(base_url, visit, secret)
    elif actor.role is Role.prescriber and visit.modality is Modality.telehealth and active(visit):
        link = f"{base_url}/visits/{visit.id}/call"
    is_prescriber = actor.role is Role.prescriber
    data = ics.build_invite(
        visit,
        with_name=view.patient_name if is_prescriber else view.prescriber_name,
        timezone=view.patient_timezone if actor.role is Role.patient else view.prescriber_timezone,
        join_url=link,
        host=urlsplit(base_url).hostname or "telehealth",
        now=now,
    )
    audit.record(
        session,
        Action.export,
        "visit_invite",
        visit.id,
        patient_id=visit.patient_id,
        detail={"sequence": visit.sequence},
    )
    assert visit.id is not None
    return visit.id, data


def _one(column: Any, key: Any, value: int) -> Any:
    return select(column).where(key == value).scalar_subquery()


async def view_visit(session: AsyncSession, visit: Visit) -> VisitView:
    # One round trip for the five values (this runs on every read of a visit).
    patient_name, patient_tz, patient_state, prescriber_name, prescriber_tz = (
        await session.execute(
            select(
                _one(col(User.full_name), col(User.id), visit.patient_id),
                _one(col(PatientProfile.timezone), col(PatientProfile.user_id), visit.patient_id),
                _one(col(PatientProfile.state), col(PatientProfile.user_id), visit.patient_id),
                _one(col(User.full_name), col(User.id), visit.prescriber_id),
                _one(
                    col(PrescriberProfile.timezone),
                    col(PrescriberProfile.user_id),
                    visit.prescriber_id,
                ),
            )
        )
    ).one()
    return VisitView(
        visit=visit,
        patient_name=patient_name or "",
        patient_timezone=patient_tz or "UTC",
        patient_state=patient_state or "",
        prescriber_name=prescriber_name or "",
        prescriber_timezone=prescriber_tz or "UTC",
        # Notes and orders start at check-in, so only a waiting visit needs the look-up.
        has_records=visit.status is VisitStatus.waiting and await has_records(session, visit),
    )


async def read_visit(session: AsyncSession, *, actor: Actor, visit_id: int) -> VisitView:
    visit = await _visit_for(session, actor, visit_id)
    audit.record(session, Action.read, "visit", visit.id, patient_id=visit.patient_id)
    return await view_visit(session, visit)


async def history(session: AsyncSession, visit: Visit) -> list[VisitEvent]:
    rows = await session.execute(
        select(VisitEvent).where(col(VisitEvent.visit_id) == visit.id).order_by(col(VisitEvent.id))
    )
    return list(rows.scalars().all())


async def list_visits(
    session: AsyncSession,
    *,
    actor: Actor,
    prescriber_id: int | None = None,
    patient_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_inactive: bool = True,
    ends_after: datetime | None = None,
    limit: int = 500,
) -> list[VisitView]:
    """Visits the actor may see: a prescriber their own, a patient their own, staff all."""
    ensure_full_session(actor)
    if start is not None:
        ensure_sane_date(start, "start")
    if end is not None:
        ensure_sane_date(end, "end")
    if start is not None and end is not None:
        _check_range(start, end, MAX_LIST_RANGE)
    if any(i is not None and not is_row_id(i) for i in (prescriber_id, patient_id)):
        return []  # no visit can have that id
    query = select(Visit)
    if actor.role is Role.prescriber:
        query = query.where(col(Visit.prescriber_id) == actor.user_id)
    elif actor.role is Role.patient:
        query = query.where(col(Visit.patient_id) == actor.user_id)
    if prescriber_id is not None:
        query = query.where(col(Visit.prescriber_id) == prescriber_id)
    if patient_id is not None:
        query = query.where(col(Visit.patient_id) == patient_id)
    if start is not None:
        query = query.where(col(Visit.end) > start)
    if end is not None:
        query = query.where(col(Visit.start) < end)
    if ends_after is not None:
        query = query.where(col(Visit.end) > ends_after)
    if not include_inactive:
        query = query.where(col(Visit.status).in_(states.ACTIVE))
    query = query.order_by(col(Visit.start)).limit(limit)
    visits = list((await session.execute(query)).scalars().all())
    for pid in sorted({v.patient_id for v in visits}):
        audit.record(
            session,
            Action.read,
            "visit_list",
            patient_id=pid,
            detail={"count": sum(1 for v in visits if v.patient_id == pid)},
        )
    return [await view_visit(session, v) for v in visits]


@dataclass(frozen=True)
class PatientMatch:
    id: int
    full_name: str
    date_of_birth: date
    state: str
    timezone: str


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _as_date(q: str) -> date | None:
    try:
        return date.fromisoformat(q)
    except ValueError:
        pass
    m = _US_DATE.match(q)
    if m:
        try:
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    return None


async def search_patients(
    session: AsyncSession, *, actor: Actor, q: str, limit: int = 20
) -> list[PatientMatch]:
    """Find patients by part of the name or by date of birth (YYYY-MM-DD or MM/DD/YYYY)."""
    ensure_can_book(actor)
    q = (q or "").strip()
    if len(q) < 2:
        raise InvalidInput("Type at least 2 letters of the name, or a date of birth.", field="q")
    if len(q) > 100:
        raise InvalidInput("q must be at most 100 characters.", field="q")
    query = (
        select(User, PatientProfile)
        .join(PatientProfile, col(PatientProfile.user_id) == col(User.id))
        .where(col(User.role) == Role.patient, col(User.is_active).is_(True))
    )
    dob = _as_date(q)
    if dob is not None:
        query = query.where(col(PatientProfile.date_of_birth) == dob)
    else:
        words = [w for w in q.lower().split() if w]
        escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
        for w in escaped:
            query = query.where(
                or_(
                    func.lower(User.full_name).like(f"%{w}%", escape="\\"),
                    func.lower(User.username).like(f"%{w}%", escape="\\"),
                )
            )
    query = query.order_by(col(User.full_name)).limit(limit)
    rows = (await session.execute(query)).all()
    matches = [
        PatientMatch(u.id or 0, u.full_name, p.date_of_birth, p.state, p.timezone) for u, p in rows
    ]
    for m in matches:
        audit.record(session, Action.read, "patient_search", m.id, patient_id=m.id)
    if not matches:
        audit.record(session, Action.read, "patient_search", detail={"count": 0})
    return matches


async def get_patient_for_booking(
    session: AsyncSession, *, actor: Actor, patient_id: int
) -> PatientMatch:
    """One patient by id, for a page opened on them (a deep link, a reload); staff only.
    An id that is not an active patient answers NotFound."""
    ensure_can_book(actor)
    try:
        user, profile = await _patient(session, patient_id)
    except InvalidInput:
        raise NotFound() from None
    audit.record(session, Action.read, "patient", patient_id, patient_id=patient_id)
    return PatientMatch(
        user.id or 0, user.full_name, profile.date_of_birth, profile.state, profile.timezone
    )


@dataclass(frozen=True)
class PrescriberSummary:
    id: int
    full_name: str
    credential: str
    licensed_states: list[str]
    timezone: str
    buffer_minutes: int


async def list_prescribers(session: AsyncSession, *, actor: Actor) -> list[PrescriberSummary]:
    ensure_role(actor, Role.admin, Role.scheduler, Role.prescriber)
    rows = (
        await session.execute(
            select(User, PrescriberProfile)
            .join(PrescriberProfile, col(PrescriberProfile.user_id) == col(User.id))
            .where(col(User.is_active).is_(True))
            .order_by(col(User.full_name))
        )
    ).all()
    return [
        PrescriberSummary(
            u.id or 0,
            u.full_name,
            p.credential.value,
            list(p.licensed_states),
            p.timezone,
            p.buffer_minutes,
        )
        for u, p in rows
    ]


def parse_visit_type(value: object) -> VisitType:
    try:
        return VisitType(str(value))
    except ValueError:
        raise InvalidInput(
            "visit_type must be initial_evaluation or follow_up.", field="visit_type"
        ) from None


def parse_modality(value: object) -> Modality:
    try:
        return Modality(str(value))
    except ValueError:
        raise InvalidInput("modality must be telehealth or in_person.", field="modality") from None


def active(visit: Visit) -> bool:
    return visit.status in states.ACTIVE


__all__: Sequence[str] = (
    "Availability",
    "BookingRules",
    "PatientMatch",
    "PrescriberSummary",
    "VisitView",
    "active",
    "book_visit",
    "cancel_visit",
    "ensure_sane_date",
    "get_availability",
    "has_records",
    "history",
    "list_prescribers",
    "list_slots",
    "list_visits",
    "mark_noshow",
    "parse_modality",
    "parse_visit_type",
    "read_visit",
    "reschedule_visit",
    "search_patients",
    "set_availability",
    "view_visit",
)


# ---------------------------------------------------------------- pages


async def viewer_timezone(session: AsyncSession, actor: Actor) -> str | None:
    """The zone a person reads times in: their own profile's (staff have none)."""
    if actor.role is Role.patient:
        patient = await session.get(PatientProfile, actor.user_id)
        return patient.timezone if patient else None
    if actor.role is Role.prescriber:
        prescriber = await session.get(PrescriberProfile, actor.user_id)
        return prescriber.timezone if prescriber else None
    return None


@dataclass(frozen=True)
class WeekDay:
    on: date
    slots: list[sl.Interval]
    visits: list[VisitView]
    past: bool = False  # before today in the prescriber's zone


@dataclass(frozen=True)
class Week:
    prescriber: PrescriberSummary
    start: date
    days: list[WeekDay]
    patient_timezone: str | None = None


async def week_schedule(
    session: AsyncSession,
    *,
    actor: Actor,
    prescriber_id: int,
    week_of: date | None,
    visit_type: VisitType,
    now: datetime,
    rules: BookingRules,
    patient_id: int | None = None,
    include_cancelled: bool = False,
) -> Week:
    """One prescriber's week (Monday to Sunday in their own zone): free slots and visits."""
    await ensure_books_for(session, actor, prescriber_id, patient_id)
    if week_of is not None:
        ensure_sane_date(week_of, "week")
    user, profile = await _prescriber(session, prescriber_id)
    zone = ZoneInfo(profile.timezone)
    anchor = week_of or now.astimezone(zone).date()
    monday = anchor - timedelta(days=anchor.weekday())
    start = sl.wall_to_utc(monday, 0, zone)
    end = sl.wall_to_utc(monday + timedelta(days=7), 0, zone)
    free = await list_slots(
        session,
        actor=actor,
        prescriber_id=prescriber_id,
        start=start,
        end=end,
        visit_type=visit_type,
        now=now,
        rules=rules,
        patient_id=patient_id,
    )
    visits = await list_visits(
        session,
        actor=actor,
        prescriber_id=prescriber_id,
        start=start,
        end=end,
    )
    if not include_cancelled:
        # Cancelled visits stay out of the way unless asked for; finished and no-show ones
        # stay: the day as it happened.
        visits = [v for v in visits if v.visit.status is not VisitStatus.cancelled]
    today = now.astimezone(zone).date()
    days = []
    for n in range(7):
        on = monday + timedelta(days=n)
        days.append(
            WeekDay(
                on=on,
                slots=[s for s in free if s.start.astimezone(zone).date() == on],
                visits=[v for v in visits if v.visit.start.astimezone(zone).date() == on],
                past=on < today,
            )
        )
    summary = PrescriberSummary(
        user.id or 0,
        user.full_name,
        profile.credential.value,
        list(profile.licensed_states),
        profile.timezone,
        profile.buffer_minutes,
    )
    patient = (
        await session.get(PatientProfile, patient_id)
        if patient_id is not None and is_row_id(patient_id)
        else None
    )
    return Week(
        prescriber=summary,
        start=monday,
        days=days,
        patient_timezone=patient.timezone if patient else None,
    )
