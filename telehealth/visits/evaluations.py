"""Domain: a prescriber attests an earlier in-person evaluation of a patient (their own).

The gate counts these rows, and finished in-person visits, as in-person evaluations by the
prescriber on their date. A prescriber records only their own evaluations, and only of a
patient they have a visit with.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.errors import InvalidInput
from telehealth.visits.gate.facts import patient_zone
from telehealth.visits.medlist import ensure_chart_access
from telehealth.visits.models import InPersonEvaluation

EARLIEST = date(1950, 1, 1)


def _text(value: str, name: str, label: str, max_len: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput(f"Enter the {label}.", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"The {label} is too long (at most {max_len} characters).", field=name)
    return value


async def record_in_person_evaluation(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int,
    evaluated_on: date,
    location: str,
    attestation: str,
    now: datetime,
) -> InPersonEvaluation:
    """Record the caller's earlier in-person evaluation of `patient_id` on `evaluated_on`."""
    ensure_role(actor, Role.prescriber, hide=True)
    await ensure_chart_access(session, actor, patient_id, write=True)
    zone, _state = await patient_zone(session, patient_id)
    # "Today" where the patient is, and where the prescriber may be a day ahead in UTC.
    today = max(now.astimezone(zone).date(), now.date())
    if evaluated_on > today:
        raise InvalidInput("The evaluation date cannot be in the future.", field="date")
    if evaluated_on < EARLIEST:
        raise InvalidInput("Check the evaluation date: it is too far in the past.", field="date")
    evaluation = InPersonEvaluation(
        patient_id=patient_id,
        prescriber_id=actor.user_id,
        evaluated_on=evaluated_on,
        location=_text(location, "location", "place of the evaluation", 200),
        attestation=_text(attestation, "attestation", "attestation", 2000),
        recorded_at=now,
    )
    session.add(evaluation)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "in_person_evaluation",
        evaluation.id,
        patient_id=patient_id,
        detail={"prescriber_id": actor.user_id},
    )
    return evaluation
