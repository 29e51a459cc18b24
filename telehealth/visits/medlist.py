"""Domain: a patient's current medication list and its history (started, changed, stopped).

Who may see it: the patient themself (signed in with a full session), and a prescriber who
has a visit with the patient. Everyone else gets NotFound, as for a patient who does not
exist. Only such a prescriber may stop a medication.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import PatientProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import Conflict, NotFound
from telehealth.visits import states
from telehealth.visits.models import (
    MedicationEvent,
    MedicationOrder,
    MedicationStatus,
    PatientMedication,
    Visit,
)


class EventKind:
    started = "started"
    dose_changed = "dose_changed"
    renewed = "renewed"
    stopped = "stopped"


@dataclass(frozen=True)
class MedicationLine:
    medication: PatientMedication
    history: list[MedicationEvent]


@dataclass(frozen=True)
class MedicationList:
    patient_id: int
    allergies: list[str]
    lines: list[MedicationLine]
    actor_names: dict[int, str]


async def treats(session: AsyncSession, prescriber_id: int, patient_id: int) -> bool:
    """A prescriber treats a patient once the patient has come to one of their visits
    (checked in, in progress or finished). A booking alone, or a no-show, is not care."""
    found = (
        await session.execute(
            select(col(Visit.id))
            .where(
                col(Visit.patient_id) == patient_id,
                col(Visit.prescriber_id) == prescriber_id,
                col(Visit.status).in_(states.ATTENDED),
            )
            .limit(1)
        )
    ).first()
    return found is not None


async def can_see_patient_chart(session: AsyncSession, actor: Actor, patient_id: int) -> bool:
    if actor.visit_scope is not None:
        return False
    if actor.role is Role.patient:
        return actor.user_id == patient_id
    if actor.role is Role.prescriber:
        return await treats(session, actor.user_id, patient_id)
    return False


async def ensure_chart_access(
    session: AsyncSession, actor: Actor, patient_id: int, *, write: bool = False
) -> None:
    """NotFound unless the actor may see (or, with `write`, change) the patient's chart."""
    allowed = await can_see_patient_chart(session, actor, patient_id)
    if write and actor.role is not Role.prescriber:
        allowed = False
    if not allowed:
        # Under the patient, when there is one: their access report must show attempts on
        # their chart (the caller still sees a plain 404).
        exists = is_row_id(patient_id) and (
            await session.get(PatientProfile, patient_id) is not None
        )
        audit.record(
            session,
            Action.access_denied,
            "patient_chart",
            patient_id,
            patient_id=patient_id if exists else None,
            outcome=Outcome.failure,
            durable=True,
        )
        raise NotFound()


async def record_order_on_list(
    session: AsyncSession, *, order: MedicationOrder, actor: Actor, now: datetime
) -> PatientMedication:
    """Start the medication, or change its dose, or renew it unchanged: with who and when."""
    # One writer per patient's list at a time (orders on two visits at once must not both
    # start the same medication).
    await session.get(PatientProfile, order.patient_id, with_for_update=True)
    line = (
        (
            await session.execute(
                select(PatientMedication)
                .where(
                    col(PatientMedication.patient_id) == order.patient_id,
                    col(PatientMedication.medication_id) == order.medication_id,
                    col(PatientMedication.status) == MedicationStatus.active,
                )
                .order_by(col(PatientMedication.id).desc())
                .limit(1)
            )
        )
        .scalars()
        .first()
    )
    if line is None:
        line = PatientMedication(
            patient_id=order.patient_id,
            medication_id=order.medication_id,
            medication_name=order.medication_name,
            dose=order.dose,
            route=order.route,
            frequency=order.frequency,
            started_at=now,
        )
        session.add(line)
        kind = EventKind.started
    elif (line.dose, line.route, line.frequency) != (order.dose, order.route, order.frequency):
        line.dose, line.route, line.frequency = order.dose, order.route, order.frequency
        kind = EventKind.dose_changed
    else:
        kind = EventKind.renewed
    await session.flush()
    assert line.id is not None
    session.add(
        MedicationEvent(
            patient_medication_id=line.id,
            kind=kind,
            dose=order.dose,
            frequency=order.frequency,
            order_id=order.id,
            actor_id=actor.user_id,
            at=now,
        )
    )
    await session.flush()
    audit.record(
        session,
        Action.create if kind == EventKind.started else Action.update,
        "patient_medication",
        line.id,
        patient_id=order.patient_id,
        detail={"event": kind, "order_id": order.id},
    )
    return line


async def list_medications(
    session: AsyncSession, *, actor: Actor, patient_id: int
) -> MedicationList:
    """Current and stopped medications, newest first, each with its history, and allergies."""
    await ensure_chart_access(session, actor, patient_id)
    profile = await session.get(PatientProfile, patient_id)
    lines = (
        (
            await session.execute(
                select(PatientMedication)
                .where(col(PatientMedication.patient_id) == patient_id)
                .order_by(
                    col(PatientMedication.started_at).desc(), col(PatientMedication.id).desc()
                )
            )
        )
        .scalars()
        .all()
    )
    ids = [line.id for line in lines]
    events = (
        (
            await session.execute(
                select(MedicationEvent)
                .where(col(MedicationEvent.patient_medication_id).in_(ids))
                .order_by(col(MedicationEvent.at), col(MedicationEvent.id))
            )
        )
        .scalars()
        .all()
        if ids
        else []
    )
    by_line: dict[int, list[MedicationEvent]] = {}
    for event in events:
        by_line.setdefault(event.patient_medication_id, []).append(event)
    actor_ids = {event.actor_id for event in events}
    names: dict[int, str] = {}
    if actor_ids:
        rows = (
            await session.execute(
                select(col(User.id), col(User.full_name)).where(col(User.id).in_(actor_ids))
            )
        ).all()
        names = {row[0]: row[1] for row in rows if row[0] is not None}
    audit.record(
        session,
        Action.read,
        "patient_medication",
        None,
        patient_id=patient_id,
        detail={"count": len(lines)},
    )
    return MedicationList(
        patient_id=patient_id,
        allergies=list(profile.allergies) if profile else [],
        lines=[MedicationLine(line, by_line.get(line.id or 0, [])) for line in lines],
        actor_names=names,
    )


async def stop_medication(
    session: AsyncSession, *, actor: Actor, patient_id: int, medication_id: int, now: datetime
) -> PatientMedication:
    """Stop a current medication (a prescriber who treats the patient)."""
    await ensure_chart_access(session, actor, patient_id, write=True)
    line = await session.get(PatientMedication, medication_id, with_for_update=True)
    if line is None or line.patient_id != patient_id:
        raise NotFound()
    if line.status is MedicationStatus.stopped:
        raise Conflict("This medication is already stopped.", code="already_stopped")
    line.status = MedicationStatus.stopped
    line.stopped_at = now
    session.add(
        MedicationEvent(
            patient_medication_id=medication_id,
            kind=EventKind.stopped,
            dose=line.dose,
            frequency=line.frequency,
            actor_id=actor.user_id,
            at=now,
        )
    )
    await session.flush()
    audit.record(
        session,
        Action.update,
        "patient_medication",
        medication_id,
        patient_id=patient_id,
        detail={"event": EventKind.stopped},
    )
    return line
