"""Domain (pure): what a reader may do with a visit, as the flags its JSON carries (`can`).

The pages show a button only when its flag is true; they keep no copy of the status sets or
the roles. Each flag asks the one rule that the matching service enforces, so a button and
the answer to pressing it cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telehealth.auth.policy import Actor
from telehealth.notify.announce import can_resend_invitation
from telehealth.scheduling import policy
from telehealth.visits import states
from telehealth.visits.access import is_participant
from telehealth.visits.models import Modality, Visit


@dataclass(frozen=True)
class VisitCan:
    reschedule: bool  # move it to another time (POST /api/visits/{id}/reschedule)
    cancel: bool  # call it off with a reason (POST /api/visits/{id}/cancel)
    noshow: bool  # mark that the patient never came (POST /api/visits/{id}/noshow)
    invite: bool  # send the invitation again (POST /api/visits/{id}/invite)
    join: bool  # open its video call: the patient's visit page, the prescriber's call page
    calendar: bool  # add it to a calendar (GET /api/visits/{id}/calendar.ics)


def visit_can(actor: Actor, visit: Visit, now: datetime, *, has_records: bool) -> VisitCan:
    """Every flag for one reader and one visit. `has_records`: a note or an order was made
    on it already (a waiting visit with records is finished, not cancelled)."""
    return VisitCan(
        reschedule=policy.can_reschedule(actor, visit),
        cancel=policy.can_cancel(actor, visit, has_records=has_records),
        noshow=policy.can_mark_noshow(actor, visit, now, has_records=has_records),
        invite=can_resend_invitation(actor, visit, now),
        join=visit.modality is Modality.telehealth
        and visit.status in states.ACTIVE
        and is_participant(actor, visit),
        calendar=visit.status in states.ACTIVE,
    )
