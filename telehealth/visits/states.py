"""Domain: every set of visit statuses the rules speak of (and, with the lifecycle, its moves).

One place, so "who may still join", "what can be cancelled" and "what counts as over" cannot
disagree between the booking, the call, the note and the gate.
"""

from __future__ import annotations

from typing import Final

from telehealth.visits.models import VisitStatus

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
