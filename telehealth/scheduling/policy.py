"""Domain (pure): the practice's booking settings and limits, who may edit availability and
book, and what each reader of a visit may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from telehealth.auth.models import Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.config import Settings
from telehealth.errors import InvalidInput, PermissionDenied
from telehealth.visits import states
from telehealth.visits.models import Modality, Visit, VisitType

STAFF_WHO_BOOK = (Role.scheduler, Role.admin)

MAX_SLOT_RANGE = timedelta(days=62)
MAX_LIST_RANGE = timedelta(days=366)
MAX_BUFFER_MINUTES = 120
MAX_RANGES_PER_DAY = 12
MAX_EXCEPTIONS = 366
MAX_REASON_LENGTH = 500
# Dates outside these years are typing mistakes; refusing them also keeps the zone and
# day arithmetic away from datetime's year 1 and year 9999 limits.
MIN_YEAR = 1900
MAX_YEAR = 2200
REASON_REQUIRED = "Give a reason for cancelling (it is kept with the visit)."


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


def is_sane_year(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


def ensure_sane_date(value: date, field: str) -> None:
    """A date or date-time (a datetime is a date) within the years the practice can use."""
    if not is_sane_year(value.year):
        raise InvalidInput(
            f"{field} must be between the years {MIN_YEAR} and {MAX_YEAR}.", field=field
        )


def check_range(start: datetime, end: datetime, limit: timedelta) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("start and end must include a UTC offset, such as Z or -05:00.")
    if end <= start:
        raise InvalidInput("end must be after start.", field="end")
    if end - start > limit:
        raise InvalidInput(f"Ask for at most {limit.days} days at a time.", field="end")


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


def visible_cancel_reason(actor: Actor, visit: Visit) -> str | None:
    """Why a visit was called off is the front desk's note: schedulers and admins read it;
    the patient and the prescriber see only that the visit was cancelled."""
    return visit.cancel_reason if actor.role in STAFF_WHO_BOOK and visit.cancel_reason else None


def can_see_history(actor: Actor) -> bool:
    """Who changed a visit, and when, is for the front desk (schedulers and admins)."""
    return actor.role in STAFF_WHO_BOOK


def active(visit: Visit) -> bool:
    return visit.status in states.ACTIVE
