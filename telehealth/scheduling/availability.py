"""Domain: a prescriber's availability (weekly hours, date exceptions, the buffer after each
visit) and the free slots it leaves once booked time is taken out.

Hours are wall-clock ranges in the prescriber's own zone (`slots` turns them into instants).
The time a booking holds is its `TimeClaim` rows, one per 5-minute cell (see `booking`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import PrescriberProfile, Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput
from telehealth.scheduling import parties
from telehealth.scheduling import slots as sl
from telehealth.scheduling.models import AvailabilityException, AvailabilityRule, TimeClaim
from telehealth.scheduling.policy import (
    MAX_BUFFER_MINUTES,
    MAX_EXCEPTIONS,
    MAX_RANGES_PER_DAY,
    MAX_SLOT_RANGE,
    MAX_YEAR,
    MIN_YEAR,
    BookingRules,
    check_range,
    ensure_can_edit_availability,
    ensure_sane_date,
    is_sane_year,
)
from telehealth.timefmt import format_hhmm
from telehealth.visits.models import VisitType

# Whose time a claim holds.
PRESCRIBER = "prescriber"
PATIENT = "patient"


@dataclass(frozen=True)
class Availability:
    """A prescriber's hours as stored: weekly ranges by weekday, exceptions by date."""

    prescriber_id: int
    timezone: str
    buffer_minutes: int
    weekly: list[sl.WeeklyRange]
    exceptions: list[sl.DateException]


def _check_template(
    weekly: Sequence[sl.WeeklyRange],
    exceptions: Sequence[sl.DateException],
    buffer_minutes: int | None,
) -> None:
    for weekday in range(7):
        if sum(1 for w in weekly if w.weekday == weekday) > MAX_RANGES_PER_DAY:
            raise InvalidInput(
                f"A day can have at most {MAX_RANGES_PER_DAY} ranges of hours.", field="weekly"
            )
    if len(exceptions) > MAX_EXCEPTIONS:
        raise InvalidInput(
            f"Give at most {MAX_EXCEPTIONS} exceptions. Remove old ones that have passed.",
            field="exceptions",
        )
    for n, e in enumerate(exceptions):
        if not is_sane_year(e.on.year):
            raise InvalidInput(
                f"exceptions[{n}].date must be between the years {MIN_YEAR} and {MAX_YEAR}.",
                field="exceptions",
            )
    if buffer_minutes is not None and (
        not 0 <= buffer_minutes <= MAX_BUFFER_MINUTES or buffer_minutes % sl.CELL_MINUTES
    ):
        raise InvalidInput(
            f"buffer_minutes must be a multiple of {sl.CELL_MINUTES} from 0 to "
            f"{MAX_BUFFER_MINUTES}.",
            field="buffer_minutes",
        )


async def set_availability(
    session: AsyncSession,
    *,
    actor: Actor | None,
    prescriber_id: int,
    weekly: Sequence[sl.WeeklyRange],
    exceptions: Sequence[sl.DateException],
    buffer_minutes: int | None = None,
    only_if_empty: bool = False,
) -> Availability:
    """Replace a prescriber's weekly template and exceptions. `actor` None is the operator."""
    ensure_can_edit_availability(actor, prescriber_id)
    _, profile = await parties.prescriber(session, prescriber_id)
    _check_template(weekly, exceptions, buffer_minutes)
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
    for rule in weekly:
        session.add(
            AvailabilityRule(
                prescriber_id=prescriber_id,
                weekday=rule.weekday,
                start_time=format_hhmm(rule.range.start),
                end_time=format_hhmm(rule.range.end),
            )
        )
    for e in exceptions:
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
            "weekly_ranges": len(weekly),
            "exceptions": len(exceptions),
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
    _, profile = await parties.prescriber(session, prescriber_id)
    weekly, dated = await _load_template(session, prescriber_id)
    return Availability(
        prescriber_id=prescriber_id,
        timezone=profile.timezone,
        buffer_minutes=profile.buffer_minutes,
        weekly=sorted(weekly, key=lambda w: (w.weekday, w.range.minutes())),
        exceptions=sorted(dated, key=lambda e: e.on),
    )


# ---------------------------------------------------------------- free time


async def windows(
    session: AsyncSession, profile: PrescriberProfile, start: datetime, end: datetime
) -> list[sl.Interval]:
    """The prescriber's available intervals in [start, end), as instants."""
    weekly, dated = await _load_template(session, profile.user_id)
    return sl.windows(start, end, ZoneInfo(profile.timezone), weekly, dated)


async def taken_cells(
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
    await parties.ensure_books_for(session, actor, prescriber_id, patient_id)
    ensure_sane_date(start, "start")
    ensure_sane_date(end, "end")
    check_range(start, end, MAX_SLOT_RANGE)
    _, profile = await parties.prescriber(session, prescriber_id)
    length = rules.length(visit_type)
    buffer = timedelta(minutes=profile.buffer_minutes)
    wins = await windows(session, profile, start, end)
    margin = length + buffer + timedelta(days=1)
    taken = await taken_cells(session, PRESCRIBER, prescriber_id, start - margin, end + margin)
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
        busy = await taken_cells(session, PATIENT, patient_id, start - margin, end + margin)
        found = [s for s in found if not any(c in busy for c in sl.cells(s.start, s.end))]
        audit.record(session, Action.read, "patient_schedule", patient_id=patient_id)
    return found
