"""Domain: safety alerts: opened with the answer that raised them, shown to the patient's
prescriber at once, acknowledged with an action and a note, escalated to every
administrator when nobody has acknowledged them in time.

Each step (opened, shown, acknowledged, escalated) is audited under the patient. Escalation
takes the alert with a conditional update, so of several server processes exactly one
escalates it and queues its emails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import Role, User
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import Conflict, InvalidInput, NotFound
from telehealth.measures.models import (
    AlertAction,
    AlertKind,
    AlertStatus,
    QuestionnaireResponse,
    SafetyAlert,
)
from telehealth.notify.models import EmailKind, VisitEmail
from telehealth.visits.models import Visit

NOTE_MAX = 4000
NOTE_NEEDED = "Write a short note of what you did (for example, who you spoke to and the plan)."


def action_choices() -> str:
    """What to send for an acknowledgement's action, said as a choice."""
    return f"Choose what was done: one of {', '.join(a.value for a in AlertAction)}."


def _audit(
    session: AsyncSession,
    alert: SafetyAlert,
    action: Action,
    event: str,
    **extra: object,
) -> None:
    audit.record(
        session,
        action,
        "safety_alert",
        alert.id,
        patient_id=alert.patient_id,
        detail={"event": event, "visit_id": alert.visit_id, **extra},
    )


async def open_alert(
    session: AsyncSession,
    *,
    visit: Visit,
    response: QuestionnaireResponse,
    kind: str,
    now: datetime,
) -> SafetyAlert:
    assert visit.id is not None and response.id is not None
    alert = SafetyAlert(
        patient_id=visit.patient_id,
        visit_id=visit.id,
        prescriber_id=visit.prescriber_id,
        response_id=response.id,
        kind=AlertKind(kind),
        created_at=now,
    )
    session.add(alert)
    await session.flush()
    _audit(session, alert, Action.create, "opened", kind=alert.kind.value)
    return alert


def can_see_alert(actor: Actor, alert: SafetyAlert) -> bool:
    if actor.visit_scope is not None:
        return False
    if actor.role is Role.admin:
        return True
    return actor.role is Role.prescriber and alert.prescriber_id == actor.user_id


@dataclass(frozen=True)
class AlertView:
    alert: SafetyAlert
    patient_name: str


async def list_alerts(
    session: AsyncSession, *, actor: Actor, status: AlertStatus | None
) -> list[AlertView]:
    """Open (or all) alerts: a prescriber's own patients', or every one for an administrator.
    Listing them shows them: each is audited as shown to this user."""
    if actor.visit_scope is not None or actor.role not in (Role.prescriber, Role.admin):
        raise NotFound()
    query = select(SafetyAlert, User.full_name).join(
        User, col(User.id) == col(SafetyAlert.patient_id)
    )
    if status is not None:
        query = query.where(col(SafetyAlert.status) == status)
    if actor.role is Role.prescriber:
        query = query.where(col(SafetyAlert.prescriber_id) == actor.user_id)
    rows = (await session.execute(query.order_by(col(SafetyAlert.created_at).desc()))).all()
    views = [AlertView(alert, name) for alert, name in rows]
    for view in views:
        mark_shown(session, view.alert, where="alert_list")
    return views


def mark_shown(
    session: AsyncSession,
    alert: SafetyAlert,
    *,
    where: str,
    user_id: int | None = None,
    role: str | None = None,
) -> None:
    """Audit that the alert reached a screen (a list, a dashboard push, a record page).
    A push names whose screens it went to (`user_id`, `role`); a request names its caller."""
    audit.record(
        session,
        Action.read,
        "safety_alert",
        alert.id,
        patient_id=alert.patient_id,
        detail={"event": "shown", "visit_id": alert.visit_id, "where": where},
        user_id=user_id,
        role=role,
    )


async def get_alert_for(
    session: AsyncSession, actor: Actor, alert_id: int, *, for_update: bool = False
) -> SafetyAlert:
    alert = (
        await session.get(SafetyAlert, alert_id, with_for_update=for_update)
        if is_row_id(alert_id)
        else None
    )
    if alert is None or not can_see_alert(actor, alert):
        audit.record(
            session,
            Action.access_denied,
            "safety_alert",
            alert_id,
            outcome=Outcome.failure,
            patient_id=alert.patient_id if alert is not None else None,
            durable=True,
        )
        raise NotFound()
    return alert


async def open_alerts_for_patient(session: AsyncSession, patient_id: int) -> list[SafetyAlert]:
    rows = await session.execute(
        select(SafetyAlert)
        .where(
            col(SafetyAlert.patient_id) == patient_id,
            col(SafetyAlert.status) == AlertStatus.open,
        )
        .order_by(col(SafetyAlert.created_at))
    )
    return list(rows.scalars())


async def acknowledge(
    session: AsyncSession,
    *,
    actor: Actor,
    alert_id: int,
    action: AlertAction,
    note: str,
    now: datetime,
) -> SafetyAlert:
    """Close the alert with what was done about it and a note (the patient's prescriber or an
    administrator)."""
    alert = await get_alert_for(session, actor, alert_id, for_update=True)
    text = note.strip()
    if not text:
        raise InvalidInput(NOTE_NEEDED, field="note")
    if len(text) > NOTE_MAX:
        raise InvalidInput(f"Keep the note under {NOTE_MAX} characters.", field="note")
    if alert.status is AlertStatus.acknowledged:
        raise Conflict("This alert was already acknowledged.", code="already_acknowledged")
    alert.status = AlertStatus.acknowledged
    alert.acknowledged_at = now
    alert.acknowledged_by_id = actor.user_id
    alert.action = action.value
    alert.note = text
    _audit(session, alert, Action.update, "acknowledged", taken=action.value)
    return alert


async def escalate_due(
    session: AsyncSession, *, now: datetime, after: timedelta
) -> list[SafetyAlert]:
    """Escalate every alert still open `after` its opening: flag it, queue an email to each
    active administrator with an address, and audit it. Of several processes running this
    at once, the conditional update lets exactly one take each alert."""
    due = (
        await session.execute(
            select(SafetyAlert).where(
                col(SafetyAlert.status) == AlertStatus.open,
                col(SafetyAlert.escalated_at).is_(None),
                col(SafetyAlert.created_at) <= now - after,
            )
        )
    ).scalars()
    admins = (
        await session.execute(
            select(User).where(col(User.role) == Role.admin, col(User.is_active).is_(True))
        )
    ).scalars()
    admin_list = list(admins)
    escalated: list[SafetyAlert] = []
    for alert in list(due):
        result = await session.execute(
            update(SafetyAlert)
            .where(
                col(SafetyAlert.id) == alert.id,
                col(SafetyAlert.status) == AlertStatus.open,
                col(SafetyAlert.escalated_at).is_(None),
            )
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            continue  # another process took it
        alert.escalated_at = now
        visit = await session.get(Visit, alert.visit_id)
        emailed = 0
        for admin in admin_list:
            if not admin.email or admin.id is None:
                continue
            session.add(
                VisitEmail(
                    visit_id=alert.visit_id,
                    patient_id=alert.patient_id,
                    kind=EmailKind.safety_escalation,
                    visit_sequence=visit.sequence if visit else 0,
                    recipient_id=admin.id,
                    alert_id=alert.id,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            emailed += 1
        _audit(
            session,
            alert,
            Action.update,
            "escalated",
            admins=len(admin_list),
            emails=emailed,
        )
        escalated.append(alert)
    await session.flush()
    return escalated
