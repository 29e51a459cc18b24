"""Domain services: a visit's day: check-in, waiting room, admit, media, finish, call events.

`booked` → `waiting` (check-in, with the state the patient is in now) → admitted (the
prescriber lets them in; `admitted_at`) → `in_progress` (both clients report media
connected; `started_at`) → `finished` (the prescriber ends it; `ended_at`). Every transition
and every call event (joins, leaves, reconnects, replaced tabs) is stored as a `VisitEvent`
and audited. Functions take plain values, raise domain errors and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, Outcome, record_visit
from telehealth.auth.accounts import check_state
from telehealth.auth.licensing import is_licensed_in
from telehealth.auth.models import PrescriberProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.errors import Conflict, InvalidInput, InvalidTransition, NotFound, PermissionDenied
from telehealth.visits import states
from telehealth.visits.access import get_visit_for, is_participant
from telehealth.visits.joinlinks import JoinWindow, join_window
from telehealth.visits.models import Modality, Visit, VisitEvent, VisitStatus
from telehealth.visits.states import Move

# What the check-in form sends for "I am outside the United States right now".
OUTSIDE_US = "outside_us"
NOT_JOINABLE = "This visit is not available to join. Check the link and the visit time."


def role_in(actor: Actor, visit: Visit) -> str:
    return "patient" if actor.user_id == visit.patient_id else "prescriber"


def within_window(visit: Visit, now: datetime) -> bool:
    """Joinable inside the visit's join window; a call that is already in progress stays
    joinable (a reload near the end must not cut the visit)."""
    if visit.status is VisitStatus.in_progress:
        return True
    return join_window(visit, now) is JoinWindow.open


async def record_call_event(
    session: AsyncSession,
    *,
    visit: Visit,
    kind: str,
    role: str | None,
    actor_id: int | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> VisitEvent:
    """Append to the visit's call history (ids and codes only in `detail`) and audit it."""
    assert visit.id is not None
    event = VisitEvent(
        visit_id=visit.id,
        at=now,
        kind=kind[:32],
        actor_id=actor_id,
        role=role,
        detail=dict(detail or {}),
    )
    session.add(event)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "visit_event",
        event.id,
        patient_id=visit.patient_id,
        detail={"visit_id": visit.id, "kind": event.kind, "role": role},
    )
    return event


def _transition(session: AsyncSession, visit: Visit, name: str, **detail: Any) -> None:
    record_visit(session, Action.update, visit, detail={"transition": name, **detail})


async def authorize_join(
    session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime
) -> tuple[Visit, str]:
    """The visit and the caller's role in its call, or NotFound for every refusal alike:
    not a participant, another visit's patient, in person, over, or outside its window."""
    try:
        visit = await get_visit_for(session, actor, visit_id)
    except NotFound:
        raise NotFound(NOT_JOINABLE, code="not_found") from None
    if (
        not is_participant(actor, visit)
        or visit.modality is not Modality.telehealth
        or visit.status not in states.ACTIVE
        or not within_window(visit, now)
    ):
        audit.record(
            session,
            Action.access_denied,
            "visit",
            visit.id,
            outcome=Outcome.failure,
            patient_id=visit.patient_id,
            durable=True,
            detail={"event": "join"},
        )
        raise NotFound(NOT_JOINABLE, code="not_found")
    return visit, role_in(actor, visit)


async def check_in(
    session: AsyncSession, *, actor: Actor, visit_id: int, location_state: Any, now: datetime
) -> Visit:
    """The patient (telehealth; a join-link session counts) or a scheduler (in person)
    checks in, attesting where the patient is now. booked → waiting; repeating it is safe."""
    visit = await get_visit_for(session, actor, visit_id, for_update=True)
    if visit.modality is Modality.telehealth:
        if actor.user_id != visit.patient_id:
            raise PermissionDenied("Only the patient checks in to a video visit.")
    elif actor.role not in (Role.scheduler, Role.admin) or actor.visit_scope is not None:
        raise PermissionDenied("The front desk checks patients in to an in-person visit.")
    if visit.status is VisitStatus.booked and location_state == OUTSIDE_US:
        raise InvalidInput(
            "A video visit can only take place while you are in a US state where your "
            "prescriber is licensed. Contact the practice to reschedule for when you are back.",
            code="outside_united_states",
            field="location_state",
        )
    state = check_state(location_state, "location_state")
    if visit.status in states.IN_CALL:
        return visit
    if not states.can_move(visit.status, Move.check_in):
        raise InvalidTransition(
            f"This visit is {visit.status.value.replace('_', ' ')}; it cannot be checked in to."
        )
    window = join_window(visit, now)
    if window is JoinWindow.early:
        raise Conflict(
            "Check-in opens 30 minutes before the visit starts. Come back then.",
            code="check_in_not_open",
        )
    if window is JoinWindow.over:
        raise Conflict(
            "This visit's time has passed. Contact the practice to rebook.", code="check_in_closed"
        )
    if visit.modality is Modality.telehealth:
        profile = await session.get(PrescriberProfile, visit.prescriber_id)
        if not is_licensed_in(profile, state):
            raise InvalidInput(
                f"Your prescriber is not licensed in {state}, so this video visit cannot take "
                "place while you are there. Contact the practice to reschedule, or join from a "
                "state where your prescriber is licensed.",
                code="not_licensed_in_state",
                field="location_state",
            )
    states.make_move(visit, Move.check_in, refusal="This visit cannot be checked in to.")
    visit.location_state = state
    visit.checked_in_at = now
    await record_call_event(
        session,
        visit=visit,
        kind="checked_in",
        role=role_name(actor),
        actor_id=actor.user_id,
        now=now,
        detail={"location_state": state},
    )
    _transition(session, visit, "checked_in", location_state=state)
    return visit


def role_name(actor: Actor) -> str:
    return actor.role.value


async def _prescriber_visit(session: AsyncSession, actor: Actor, visit_id: int) -> Visit:
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber,), for_update=True)
    if visit.prescriber_id != actor.user_id:
        raise NotFound()
    return visit


async def admit(session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime) -> Visit:
    """The visit's prescriber lets the waiting patient in. Admitting twice is harmless."""
    visit = await _prescriber_visit(session, actor, visit_id)
    if visit.status is VisitStatus.in_progress or (
        visit.status is VisitStatus.waiting and visit.admitted_at is not None
    ):
        return visit
    states.make_move(
        visit,
        Move.admit,
        refusal="The patient has not checked in yet; admit them once they wait.",
        code="not_waiting",
    )
    visit.admitted_at = now
    await record_call_event(
        session, visit=visit, kind="admitted", role="prescriber", actor_id=actor.user_id, now=now
    )
    _transition(session, visit, "admitted")
    return visit


async def _connected_since_admission(session: AsyncSession, visit_id: int, role: str) -> bool:
    """Whether `role`'s latest media report since the visit was admitted says connected
    (a report from before admission describes no call)."""
    admitted = (
        select(func.max(col(VisitEvent.id)))
        .where(col(VisitEvent.visit_id) == visit_id, col(VisitEvent.kind) == "admitted")
        .scalar_subquery()
    )
    kind = (
        await session.execute(
            select(col(VisitEvent.kind))
            .where(
                col(VisitEvent.visit_id) == visit_id,
                col(VisitEvent.role) == role,
                col(VisitEvent.kind).in_(("media_connected", "media_disconnected")),
                col(VisitEvent.id) > admitted,
            )
            .order_by(col(VisitEvent.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return kind == "media_connected"


async def media_report_changes(
    session: AsyncSession, *, visit_id: int, role: str, connected: bool
) -> bool:
    """Whether a media report from `role` says something the call history does not already:
    a repeat of the role's latest event, with no admission since, changes nothing (and is
    not written again, however often a client sends it)."""
    latest = (
        await session.execute(
            select(col(VisitEvent.kind))
            .where(
                col(VisitEvent.visit_id) == visit_id,
                or_(col(VisitEvent.role) == role, col(VisitEvent.kind) == "admitted"),
            )
            .order_by(col(VisitEvent.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return latest != ("media_connected" if connected else "media_disconnected")


async def report_media(
    session: AsyncSession, *, actor: Actor, visit_id: int, connected: bool, now: datetime
) -> Visit:
    """A participant's client reports its media state (recorded when it changed). When both
    report connected after admission, the visit is in progress and `started_at` is set."""
    visit = await get_visit_for(session, actor, visit_id, for_update=True)
    if not is_participant(actor, visit):
        raise NotFound()
    if visit.status not in states.IN_CALL:
        raise InvalidTransition("This visit is not in a call.")
    role = role_in(actor, visit)
    if await media_report_changes(session, visit_id=visit_id, role=role, connected=connected):
        await record_call_event(
            session,
            visit=visit,
            kind="media_connected" if connected else "media_disconnected",
            role=role,
            actor_id=actor.user_id,
            now=now,
        )
    if (
        connected
        and states.can_move(visit.status, Move.start)
        and visit.admitted_at is not None
        and await _connected_since_admission(
            session, visit.id or 0, "patient" if role == "prescriber" else "prescriber"
        )
    ):
        states.make_move(visit, Move.start, refusal="This visit is not in a call.")
        visit.started_at = now
        await record_call_event(
            session, visit=visit, kind="started", role=None, actor_id=None, now=now
        )
        _transition(session, visit, "started")
    return visit


async def complete_visit(
    session: AsyncSession, *, actor: Actor, visit_id: int, now: datetime
) -> Visit:
    """The prescriber ends the visit: finished, with its end time. Repeating it is harmless."""
    visit = await _prescriber_visit(session, actor, visit_id)
    if visit.status is VisitStatus.finished:
        return visit
    states.make_move(
        visit,
        Move.finish,
        refusal="Only a visit the patient has checked in to can be completed.",
        code="not_started",
    )
    visit.ended_at = now
    await record_call_event(
        session, visit=visit, kind="finished", role="prescriber", actor_id=actor.user_id, now=now
    )
    _transition(session, visit, "finished")
    return visit


@dataclass(frozen=True)
class Waiting:
    visit_id: int
    patient_name: str
    since: datetime


async def waiting_for(session: AsyncSession, *, actor: Actor) -> list[Waiting]:
    """The prescriber's patients who have checked in and are not yet admitted."""
    if actor.role is not Role.prescriber or actor.visit_scope is not None:
        raise PermissionDenied()
    rows = (
        await session.execute(
            select(Visit, col(User.full_name))
            .join(User, col(User.id) == col(Visit.patient_id))
            .where(
                col(Visit.prescriber_id) == actor.user_id,
                col(Visit.status) == VisitStatus.waiting,
                col(Visit.admitted_at).is_(None),
            )
            .order_by(col(Visit.checked_in_at))
        )
    ).all()
    result = []
    for visit, name in rows:
        record_visit(session, Action.read, visit, detail={"view": "waiting_room"})
        assert visit.id is not None
        result.append(Waiting(visit.id, name, visit.checked_in_at or visit.start))
    return result


async def waiting_entry(session: AsyncSession, visit_id: int) -> Waiting | None:
    """One waiting-room notice for the prescriber (used after a check-in commits)."""
    row = (
        await session.execute(
            select(Visit, col(User.full_name))
            .join(User, col(User.id) == col(Visit.patient_id))
            .where(col(Visit.id) == visit_id)
        )
    ).first()
    if row is None:
        return None
    visit, name = row
    if visit.status is not VisitStatus.waiting or visit.admitted_at is not None:
        return None
    return Waiting(visit_id, name, visit.checked_in_at or visit.start)


async def call_events(session: AsyncSession, *, actor: Actor, visit_id: int) -> list[VisitEvent]:
    """The visit's call history, for its prescriber or an administrator."""
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber, Role.admin))
    if actor.role is Role.prescriber and visit.prescriber_id != actor.user_id:
        raise NotFound()
    audit.record(
        session,
        Action.read,
        "visit_event",
        None,
        patient_id=visit.patient_id,
        detail={"visit_id": visit_id},
    )
    rows = await session.execute(
        select(VisitEvent).where(col(VisitEvent.visit_id) == visit_id).order_by(col(VisitEvent.id))
    )
    return list(rows.scalars().all())


async def record_join(
    session: AsyncSession,
    *,
    visit: Visit,
    role: str,
    actor_id: int,
    now: datetime,
    replaced_other_tab: bool,
) -> None:
    """A participant's connection joined the call: `joined` the first time, `rejoined` after
    a reload, lost network or server restart; `replaced` when it took over another tab."""
    earlier = (
        await session.execute(
            select(col(VisitEvent.id))
            .where(
                col(VisitEvent.visit_id) == visit.id,
                col(VisitEvent.role) == role,
                col(VisitEvent.kind).in_(("joined", "rejoined")),
            )
            .limit(1)
        )
    ).first()
    if replaced_other_tab:
        await record_call_event(
            session, visit=visit, kind="replaced", role=role, actor_id=actor_id, now=now
        )
    await record_call_event(
        session,
        visit=visit,
        kind="rejoined" if earlier else "joined",
        role=role,
        actor_id=actor_id,
        now=now,
    )


async def note_call_event(
    session: AsyncSession,
    *,
    visit_id: int,
    kind: str,
    role: str | None,
    actor_id: int | None,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> Visit | None:
    """Record a call event the server observed (a participant's connection went away)."""
    visit = await session.get(Visit, visit_id)
    if visit is None:
        return None
    await record_call_event(
        session, visit=visit, kind=kind, role=role, actor_id=actor_id, now=now, detail=detail
    )
    return visit


def call_open(visit: Visit, now: datetime) -> bool:
    """Whether a joined connection may keep relaying: the visit is live and, unless the
    patient was admitted already (a call may run past its scheduled end), within its window."""
    return visit.status in states.ACTIVE and (
        visit.admitted_at is not None or within_window(visit, now)
    )


async def announce_waiting(session: AsyncSession, visit_id: int) -> tuple[Waiting, int] | None:
    """The waiting-room notice for a patient who waits, and the prescriber it goes to; None
    when nobody waits. The patient's name goes to the prescriber's screens: audited here."""
    entry = await waiting_entry(session, visit_id)
    visit = await session.get(Visit, visit_id) if entry is not None else None
    if entry is None or visit is None:
        return None
    audit.record(
        session,
        Action.read,
        "waiting_room",
        visit_id,
        patient_id=visit.patient_id,
        user_id=visit.prescriber_id,
        role=Role.prescriber.value,
        detail={"visit_id": visit_id, "event": "waiting_room"},
    )
    return entry, visit.prescriber_id
