"""Domain: booking, moving, cancelling and marking a no-show.

Double-booking is prevented by the database, not by a check before insert: an active visit
holds one `TimeClaim` row per 5-minute cell of its prescriber's time (the visit plus the
buffer after it) and of its patient's time, and (party, party_id, cell_start) is unique. Two
overlapping visits would need the same row, so one of the two inserts fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, record_visit
from telehealth.auth.licensing import is_licensed_in
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor, ensure_full_session
from telehealth.errors import Conflict, InvalidInput, InvalidTransition
from telehealth.notify.models import EmailKind
from telehealth.notify.outbox import queue_reminder, queue_visit_email
from telehealth.scheduling import parties
from telehealth.scheduling import slots as sl
from telehealth.scheduling.availability import PATIENT, PRESCRIBER, taken_cells, windows
from telehealth.scheduling.models import TimeClaim
from telehealth.scheduling.policy import (
    MAX_REASON_LENGTH,
    REASON_REQUIRED,
    BookingRules,
    ensure_can_book,
    ensure_sane_date,
)
from telehealth.scheduling.queries import has_records
from telehealth.visits import states
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import Modality, Visit, VisitEvent, VisitStatus, VisitType


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
        patient_busy = await taken_cells(session, PATIENT, visit.patient_id, start, end)
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
    wins = await windows(session, profile, start, end)
    if not sl.within_windows(wins, start, end):
        raise InvalidInput(
            "That time is outside the prescriber's availability. Pick one of the free slots.",
            code="outside_availability",
            field="start",
        )


def _check_licence(
    prescriber: User, profile: PrescriberProfile, patient: PatientProfile, modality: Modality
) -> None:
    if modality is Modality.telehealth and not is_licensed_in(profile, patient.state):
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
    await parties.ensure_books_for(session, actor, prescriber_id, patient_id)
    ensure_sane_date(start, "start")
    _, patient_profile = await parties.patient(session, patient_id)
    prescriber, profile = await parties.bookable_prescriber(session, prescriber_id)
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
    visit = await get_visit_for(session, actor, visit_id, for_update=True)
    ensure_can_book(actor)
    ensure_sane_date(start, "start")
    if visit.status not in states.MOVABLE:
        raise InvalidTransition("Only a booked visit that has not started can be moved.")
    prescriber, profile = await parties.bookable_prescriber(session, visit.prescriber_id)
    _, patient_profile = await parties.patient(session, visit.patient_id)
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
    session: AsyncSession, *, actor: Actor, visit_id: int, reason: str, now: datetime
) -> Visit:
    """Call off a visit that has not started, with the reason kept on it; its time is freed
    and its join link stops working."""
    visit = await get_visit_for(session, actor, visit_id, for_update=True)
    ensure_can_book(actor)
    if not reason.strip():
        raise InvalidInput(REASON_REQUIRED, field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidInput(
            f"reason must be at most {MAX_REASON_LENGTH} characters.", field="reason"
        )
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
    visit = await get_visit_for(
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
