"""Domain: every set of visit statuses the rules speak of (and, with the lifecycle, its moves).

One place, so "who may still join", "what can be cancelled" and "what counts as over" cannot
disagree between the booking, the call, the note and the gate.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from telehealth.errors import InvalidTransition
from telehealth.visits.models import Visit, VisitStatus

# Still to happen or happening: the time is held, the link works, questionnaires are asked.
ACTIVE: Final = (VisitStatus.booked, VisitStatus.waiting, VisitStatus.in_progress)
# Checked in and not yet ended: someone is in the waiting room or the call.
IN_CALL: Final = (VisitStatus.waiting, VisitStatus.in_progress)
# The patient came (checked in, seen, or finished): a note can be written, a medication
# list reconciled, and for an in-person visit, the controlled-substance gate counts it.
ATTENDED: Final = (VisitStatus.waiting, VisitStatus.in_progress, VisitStatus.finished)
# Called off without taking place.
VOID: Final = (VisitStatus.cancelled, VisitStatus.noshow)
# Over, one way or another: nothing more happens in the room.
ENDED: Final = (VisitStatus.finished, VisitStatus.cancelled, VisitStatus.noshow)
# A scheduler may cancel (or mark a no-show) before the visit is under way.
CANCELLABLE: Final = (VisitStatus.booked, VisitStatus.waiting)
# A scheduler may move only a visit nobody has checked in to.
MOVABLE: Final = (VisitStatus.booked,)


class Move(StrEnum):
    """What happens to a visit over its life; each is one transition below."""

    check_in = "check_in"  # the patient is here (or online), saying where they are
    admit = "admit"  # the prescriber lets the waiting patient in (`admitted_at`)
    start = "start"  # both sides report media after admission (`started_at`)
    finish = "finish"  # the prescriber ends the visit (`ended_at`)
    cancel = "cancel"  # called off before it began, with a reason
    no_show = "no_show"  # the patient did not come
    reschedule = "reschedule"  # moved to another time


@dataclass(frozen=True)
class Transition:
    sources: tuple[VisitStatus, ...]
    target: VisitStatus


# The lifecycle as data: from which statuses each move may be made, and where it leads.
TRANSITIONS: Final[Mapping[Move, Transition]] = {
    Move.check_in: Transition((VisitStatus.booked,), VisitStatus.waiting),
    Move.admit: Transition((VisitStatus.waiting,), VisitStatus.waiting),
    Move.start: Transition((VisitStatus.waiting,), VisitStatus.in_progress),
    Move.finish: Transition(IN_CALL, VisitStatus.finished),
    Move.cancel: Transition(CANCELLABLE, VisitStatus.cancelled),
    Move.no_show: Transition(CANCELLABLE, VisitStatus.noshow),
    Move.reschedule: Transition(MOVABLE, VisitStatus.booked),
}


def can_move(status: VisitStatus, move: Move) -> bool:
    return status in TRANSITIONS[move].sources


def make_move(visit: Visit, move: Move, *, refusal: str, code: str | None = None) -> None:
    """Move the visit to `move`'s status, or raise InvalidTransition(`refusal`, `code`)
    when its current status does not allow it. The one check the lifecycle makes."""
    if not can_move(visit.status, move):
        raise InvalidTransition(refusal, code=code)
    visit.status = TRANSITIONS[move].target
