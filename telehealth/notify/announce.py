"""Domain: changes that are announced to the patient by email, with the email queued in the
same transaction (signing a note: the summary is ready; a scheduler's request to send the
invitation again)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.errors import Conflict, InvalidInput
from telehealth.notify.models import EmailKind
from telehealth.notify.outbox import queue_visit_email
from telehealth.visits import notes
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import Modality, Visit, VisitNote, VisitStatus


async def sign_note_and_announce(
    session: AsyncSession, *, actor: Actor, visit_id: int, version: int | None, now: datetime
) -> VisitNote:
    """Sign the note; the patient is emailed that their after-visit summary is ready."""
    note = await notes.sign_note(session, actor=actor, visit_id=visit_id, version=version, now=now)
    visit = await session.get(Visit, note.visit_id)
    assert visit is not None
    await queue_visit_email(session, visit, EmailKind.summary, now)
    return note


STAFF_WHO_INVITE = (Role.scheduler, Role.admin)


def can_resend_invitation(actor: Actor, visit: Visit, now: datetime) -> bool:
    """The front desk may send the invitation again while the visit is still to come."""
    return (
        actor.role in STAFF_WHO_INVITE
        and actor.visit_scope is None
        and visit.status is VisitStatus.booked
        and visit.end > now
    )


async def resend_invitation(
    session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime
) -> Visit:
    """Queue the invitation (link and calendar file) again for a visit still to come."""
    visit = await get_visit_for(session, actor, visit_id, roles=STAFF_WHO_INVITE)
    if not can_resend_invitation(actor, visit, now):
        raise Conflict(
            "Only a visit that is still to come can have its invitation sent again.",
            code="visit_not_upcoming",
        )
    if await queue_visit_email(session, visit, EmailKind.invitation, now) is None:
        raise InvalidInput(
            "This patient has no email address on file. Add one to their account, or give "
            "them the link by phone.",
            code="no_email",
        )
    audit.record_visit(
        session,
        Action.export,
        visit,
        detail={"invitation": "resent", "video": visit.modality is Modality.telehealth},
    )
    return visit
