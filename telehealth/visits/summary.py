"""Domain: the after-visit summary, written for the patient.

Built from what the prescriber signed and did, never from the whole chart: the note's plan
(what was decided, in the prescriber's words to the patient), each medication the visit
started, changed, continued or stopped (with dose, how often and the prescriber's
instructions), the patient's next booked visit, and the practice to call. It exists once the
note is signed; before that it answers NotFound, like a visit the caller may not see.

Who may read it: the visit's patient (signed in, or in a session opened by that visit's own
join link) and the visit's prescriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import PatientProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.errors import NotFound
from telehealth.visits.access import can_see_visit, get_visit_for
from telehealth.visits.medlist import EventKind
from telehealth.visits.models import (
    MedicationEvent,
    MedicationOrder,
    Modality,
    NoteStatus,
    PatientMedication,
    Visit,
    VisitNote,
    VisitStatus,
)

NOT_READY = (
    "There is no after-visit summary for this visit yet. It appears once your prescriber "
    "signs the visit note."
)


class Change(StrEnum):
    """What the visit did to a medication, as the patient is told it."""

    started = "started"
    changed = "changed"
    continued = "continued"
    stopped = "stopped"


_CHANGE_OF_EVENT = {
    EventKind.started: Change.started,
    EventKind.dose_changed: Change.changed,
    EventKind.renewed: Change.continued,
}


@dataclass(frozen=True)
class SummaryMedication:
    name: str
    dose: str
    route: str
    frequency: str
    instructions: str
    change: Change


@dataclass(frozen=True)
class NextVisit:
    visit_id: int
    start: datetime
    prescriber: str
    video: bool


@dataclass(frozen=True)
class VisitSummary:
    visit_id: int
    prescriber: str
    start: datetime
    date: date
    timezone: str
    signed_at: datetime
    instructions: str
    medications: list[SummaryMedication]
    next_visit: NextVisit | None


def can_read_summary(actor: Actor, visit: Visit) -> bool:
    """The visit's patient (a join-link session of this visit too) or its prescriber."""
    if not can_see_visit(actor, visit):
        return False
    if actor.role is Role.patient:
        return actor.user_id == visit.patient_id
    return actor.role is Role.prescriber and actor.user_id == visit.prescriber_id


async def summary_is_ready(session: AsyncSession, visit: Visit) -> bool:
    note = await session.get(VisitNote, visit.id)
    return note is not None and note.status is NoteStatus.signed


async def read_summary(
    session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime
) -> VisitSummary:
    """The signed visit's summary for its patient or prescriber; NotFound otherwise."""
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.patient, Role.prescriber))
    if not can_read_summary(actor, visit):
        raise NotFound()
    note = await session.get(VisitNote, visit.id)
    if note is None or note.status is not NoteStatus.signed or note.signed_at is None:
        raise NotFound(NOT_READY)
    assert visit.id is not None
    prescriber = await session.get(User, visit.prescriber_id)
    profile = await session.get(PatientProfile, visit.patient_id)
    zone = profile.timezone if profile else "UTC"
    summary = VisitSummary(
        visit_id=visit.id,
        prescriber=prescriber.full_name if prescriber else "",
        start=visit.start,
        date=visit.start.astimezone(ZoneInfo(zone)).date(),
        timezone=zone,
        signed_at=note.signed_at,
        instructions=note.plan.strip(),
        medications=await _medications(session, visit, note.signed_at),
        next_visit=await _next_visit(session, visit, now),
    )
    audit.record(
        session,
        Action.read,
        "visit_summary",
        visit.id,
        patient_id=visit.patient_id,
        detail={"medications": len(summary.medications)},
    )
    return summary


async def _medications(
    session: AsyncSession, visit: Visit, signed_at: datetime
) -> list[SummaryMedication]:
    """The orders placed in the visit, each with what it did to the medication list, then
    the medications this prescriber stopped between check-in and signing."""
    rows = (
        await session.execute(
            select(MedicationOrder, col(MedicationEvent.kind))
            .outerjoin(MedicationEvent, col(MedicationEvent.order_id) == col(MedicationOrder.id))
            .where(col(MedicationOrder.visit_id) == visit.id)
            .order_by(col(MedicationOrder.created_at), col(MedicationOrder.id))
        )
    ).all()
    found = [
        SummaryMedication(
            name=order.medication_name,
            dose=order.dose,
            route=order.route,
            frequency=order.frequency,
            instructions=order.instructions.strip(),
            change=_CHANGE_OF_EVENT.get(str(kind), Change.started),
        )
        for order, kind in rows
    ]
    since = visit.checked_in_at or visit.start
    stopped = (
        await session.execute(
            select(MedicationEvent, PatientMedication)
            .join(
                PatientMedication,
                col(PatientMedication.id) == col(MedicationEvent.patient_medication_id),
            )
            .where(
                col(PatientMedication.patient_id) == visit.patient_id,
                col(MedicationEvent.kind) == EventKind.stopped,
                col(MedicationEvent.actor_id) == visit.prescriber_id,
                col(MedicationEvent.at) >= since,
                col(MedicationEvent.at) <= signed_at,
            )
            .order_by(col(MedicationEvent.at), col(MedicationEvent.id))
        )
    ).all()
    found += [
        SummaryMedication(
            name=line.medication_name,
            dose=event.dose or line.dose,
            route=line.route,
            frequency=event.frequency or line.frequency,
            instructions="",
            change=Change.stopped,
        )
        for event, line in stopped
    ]
    return found


async def _next_visit(session: AsyncSession, visit: Visit, now: datetime) -> NextVisit | None:
    """The patient's next booked visit, with any prescriber of the practice."""
    row = (
        await session.execute(
            select(Visit, col(User.full_name))
            .join(User, col(User.id) == col(Visit.prescriber_id))
            .where(
                col(Visit.patient_id) == visit.patient_id,
                col(Visit.status) == VisitStatus.booked,
                col(Visit.start) > max(now, visit.start),
            )
            .order_by(col(Visit.start))
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    upcoming, name = row
    assert upcoming.id is not None
    return NextVisit(
        visit_id=upcoming.id,
        start=upcoming.start,
        prescriber=str(name),
        video=upcoming.modality is Modality.telehealth,
    )
