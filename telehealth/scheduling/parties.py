"""Domain: the two sides of a booking. The prescriber and the patient a request names are
looked up here, and whether the actor may book that patient on that calendar is decided."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput, NotFound
from telehealth.scheduling.policy import ensure_can_book_on
from telehealth.visits.medlist import treats


async def prescriber(session: AsyncSession, prescriber_id: int) -> tuple[User, PrescriberProfile]:
    """A prescriber by id (active or not); any other id answers NotFound."""
    if not is_row_id(prescriber_id):
        raise NotFound()
    user = await session.get(User, prescriber_id)
    profile = await session.get(PrescriberProfile, prescriber_id)
    if user is None or profile is None or user.role is not Role.prescriber:
        raise NotFound()
    return user, profile


async def patient(session: AsyncSession, patient_id: int) -> tuple[User, PatientProfile]:
    """An active patient named in a booking; any other id is a 422 unknown_patient."""
    user = await session.get(User, patient_id) if is_row_id(patient_id) else None
    profile = await session.get(PatientProfile, patient_id) if user is not None else None
    if user is None or profile is None or user.role is not Role.patient or not user.is_active:
        raise InvalidInput(
            "patient_id does not match a patient. Search for the patient again.",
            code="unknown_patient",
            field="patient_id",
        )
    return user, profile


async def bookable_prescriber(
    session: AsyncSession, prescriber_id: int
) -> tuple[User, PrescriberProfile]:
    """An active prescriber named in a booking; any other id is a 422 unknown_prescriber."""
    user = await session.get(User, prescriber_id) if is_row_id(prescriber_id) else None
    profile = await session.get(PrescriberProfile, prescriber_id) if user is not None else None
    if user is None or profile is None or user.role is not Role.prescriber or not user.is_active:
        raise InvalidInput(
            "prescriber_id does not match a prescriber. Pick one from the list.",
            code="unknown_prescriber",
            field="prescriber_id",
        )
    return user, profile


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
