"""Domain: who may see a visit. One helper; a visit you may not see looks like a missing one."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import NotFound
from telehealth.visits.models import Visit


def can_see_visit(actor: Actor, visit: Visit) -> bool:
    if actor.questionnaires_only:
        # Opened early for the questionnaires (telehealth.measures): not the visit itself.
        return False
    if actor.visit_scope is not None:
        # A join-link session reaches its own visit and nothing else.
        return actor.visit_scope == visit.id and actor.user_id == visit.patient_id
    if actor.role in (Role.admin, Role.scheduler):
        return True
    if actor.role is Role.prescriber:
        return visit.prescriber_id == actor.user_id
    if actor.role is Role.patient:
        return visit.patient_id == actor.user_id
    return False


async def get_visit_for(
    session: AsyncSession,
    actor: Actor,
    visit_id: int,
    *,
    roles: tuple[Role, ...] | None = None,
    for_update: bool = False,
) -> Visit:
    """The visit, if `actor` may see it (and has one of `roles`, when given); else NotFound.

    A refusal is audited as access-denied, then answered exactly like a missing visit.
    """
    if not is_row_id(visit_id):
        # No row can have it (the CLI and imports pass ids straight from their input).
        raise NotFound()
    visit = await session.get(Visit, visit_id, with_for_update=for_update)
    allowed = visit is not None and can_see_visit(actor, visit)
    if allowed and roles is not None and actor.role not in roles:
        allowed = False
    if not allowed:
        audit.record(
            session,
            Action.access_denied,
            "visit",
            visit_id,
            outcome=Outcome.failure,
            # The patient's access report must show attempts on their records (the trail is
            # for administrators; the caller still sees a plain 404).
            patient_id=visit.patient_id if visit is not None else None,
            durable=True,
        )
        raise NotFound()
    assert visit is not None
    return visit


def is_participant(actor: Actor, visit: Visit) -> bool:
    """The visit's own patient or prescriber (the only ones who may join its call)."""
    return (
        actor.user_id in (visit.patient_id, visit.prescriber_id)
        and (actor.visit_scope is None or actor.visit_scope == visit.id)
        and not actor.questionnaires_only
    )
