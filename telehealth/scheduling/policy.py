"""Domain (pure): who may edit availability and book, and where a prescriber may see patients."""

from __future__ import annotations

from datetime import datetime

from telehealth.auth.models import PrescriberProfile, Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.errors import PermissionDenied
from telehealth.visits import states
from telehealth.visits.models import Modality, Visit

STAFF_WHO_BOOK = (Role.scheduler, Role.admin)


def can_edit_availability(actor: Actor | None, prescriber_id: int) -> bool:
    """The operator (no actor), a scheduler, an admin, or that prescriber themselves."""
    if actor is None:
        return True
    if actor.visit_scope is not None:
        return False
    if actor.role in STAFF_WHO_BOOK:
        return True
    return actor.role is Role.prescriber and actor.user_id == prescriber_id


def ensure_can_edit_availability(actor: Actor | None, prescriber_id: int) -> None:
    if not can_edit_availability(actor, prescriber_id):
        raise PermissionDenied(
            "Only that prescriber, a scheduler or an administrator can change this availability."
        )


def ensure_can_book(actor: Actor) -> None:
    """Booking, moving and cancelling are the front desk's job (schedulers and admins)."""
    ensure_role(actor, *STAFF_WHO_BOOK)


def can_book_on(actor: Actor, prescriber_id: int) -> bool:
    """Staff book on any calendar; a prescriber on their own (for a patient they treat, which
    the service checks: it needs the database)."""
    if actor.visit_scope is not None:
        return False
    if actor.role in STAFF_WHO_BOOK:
        return True
    return actor.role is Role.prescriber and actor.user_id == prescriber_id


def ensure_can_book_on(actor: Actor, prescriber_id: int) -> None:
    if actor.role is Role.prescriber and actor.visit_scope is None:
        if actor.user_id != prescriber_id:
            raise PermissionDenied("You can book visits on your own calendar only.")
        return
    ensure_can_book(actor)


def is_licensed_for(profile: PrescriberProfile, state: str) -> bool:
    """A telehealth visit is lawful only where the prescriber holds a licence."""
    return state.upper() in {s.upper() for s in profile.licensed_states}


# Which visits can still change. The services raise with a message; pages get the booleans.
# A checked-in (waiting) visit can still be called off, unless the prescriber has already
# written its note or ordered on it (`has_records`): those need the visit finished instead.


def _staff(actor: Actor) -> bool:
    return actor.visit_scope is None and actor.role in STAFF_WHO_BOOK


def can_reschedule(actor: Actor, visit: Visit) -> bool:
    return _staff(actor) and visit.status in states.MOVABLE


def can_cancel(actor: Actor, visit: Visit, *, has_records: bool = False) -> bool:
    return _staff(actor) and visit.status in states.CANCELLABLE and not has_records


def can_mark_noshow(
    actor: Actor, visit: Visit, now: datetime, *, has_records: bool = False
) -> bool:
    """Once the start has passed and the patient never got into the call."""
    allowed = _staff(actor) or (
        actor.visit_scope is None
        and actor.role is Role.prescriber
        and actor.user_id == visit.prescriber_id
    )
    return allowed and visit.status in states.CANCELLABLE and not has_records and now >= visit.start


def can_see_join_link(actor: Actor, visit: Visit) -> bool:
    """The patient's join link opens a session as the patient: only the patient and the
    schedulers who send it out see it, and only while the visit is active. The prescriber joins
    through the call page instead."""
    return (
        visit.modality is Modality.telehealth
        and visit.status in states.ACTIVE
        and actor.role in (Role.patient, Role.scheduler)
    )
