"""Domain: reads for booking and the calendar. Visits with the names and zones a reader
needs, patient search, prescribers, and a visit's calendar invite. Every read of patient
data is audited in the caller's transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor, ensure_full_session, ensure_role
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput, NotFound
from telehealth.notify import ics
from telehealth.scheduling import parties
from telehealth.scheduling.policy import (
    MAX_LIST_RANGE,
    active,
    can_see_join_link,
    check_range,
    ensure_can_book,
    ensure_sane_date,
)
from telehealth.visits import joinlinks, states
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import (
    MedicationOrder,
    Modality,
    Visit,
    VisitEvent,
    VisitNote,
    VisitStatus,
)


async def has_records(session: AsyncSession, visit: Visit) -> bool:
    """Whether the prescriber has written a note or placed an order on the visit."""
    query = select(
        or_(
            exists().where(col(MedicationOrder.visit_id) == visit.id),
            exists().where(col(VisitNote.visit_id) == visit.id),
        )
    )
    return bool((await session.execute(query)).scalar())


@dataclass(frozen=True)
class VisitView:
    """A visit with the names and zones the pages and invites need."""

    visit: Visit
    patient_name: str
    patient_timezone: str
    patient_state: str
    prescriber_name: str
    prescriber_timezone: str
    has_records: bool = False


def _one(column: Any, key: Any, value: int) -> Any:
    return select(column).where(key == value).scalar_subquery()


async def view_visit(session: AsyncSession, visit: Visit) -> VisitView:
    # One round trip for the five values (this runs on every read of a visit).
    patient_name, patient_tz, patient_state, prescriber_name, prescriber_tz = (
        await session.execute(
            select(
                _one(col(User.full_name), col(User.id), visit.patient_id),
                _one(col(PatientProfile.timezone), col(PatientProfile.user_id), visit.patient_id),
                _one(col(PatientProfile.state), col(PatientProfile.user_id), visit.patient_id),
                _one(col(User.full_name), col(User.id), visit.prescriber_id),
                _one(
                    col(PrescriberProfile.timezone),
                    col(PrescriberProfile.user_id),
                    visit.prescriber_id,
                ),
            )
        )
    ).one()
    return VisitView(
        visit=visit,
        patient_name=patient_name or "",
        patient_timezone=patient_tz or "UTC",
        patient_state=patient_state or "",
        prescriber_name=prescriber_name or "",
        prescriber_timezone=prescriber_tz or "UTC",
        # Notes and orders start at check-in, so only a waiting visit needs the look-up.
        has_records=visit.status is VisitStatus.waiting and await has_records(session, visit),
    )


async def read_visit(session: AsyncSession, *, actor: Actor, visit_id: int) -> VisitView:
    visit = await get_visit_for(session, actor, visit_id)
    audit.record(session, Action.read, "visit", visit.id, patient_id=visit.patient_id)
    return await view_visit(session, visit)


async def history(session: AsyncSession, visit: Visit) -> list[VisitEvent]:
    rows = await session.execute(
        select(VisitEvent).where(col(VisitEvent.visit_id) == visit.id).order_by(col(VisitEvent.id))
    )
    return list(rows.scalars().all())


async def list_visits(
    session: AsyncSession,
    *,
    actor: Actor,
    prescriber_id: int | None = None,
    patient_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    include_inactive: bool = True,
    ends_after: datetime | None = None,
    limit: int = 500,
) -> list[VisitView]:
    """Visits the actor may see: a prescriber their own, a patient their own, staff all."""
    ensure_full_session(actor)
    if start is not None:
        ensure_sane_date(start, "start")
    if end is not None:
        ensure_sane_date(end, "end")
    if start is not None and end is not None:
        check_range(start, end, MAX_LIST_RANGE)
    if any(i is not None and not is_row_id(i) for i in (prescriber_id, patient_id)):
        return []  # no visit can have that id
    query = select(Visit)
    if actor.role is Role.prescriber:
        query = query.where(col(Visit.prescriber_id) == actor.user_id)
    elif actor.role is Role.patient:
        query = query.where(col(Visit.patient_id) == actor.user_id)
    if prescriber_id is not None:
        query = query.where(col(Visit.prescriber_id) == prescriber_id)
    if patient_id is not None:
        query = query.where(col(Visit.patient_id) == patient_id)
    if start is not None:
        query = query.where(col(Visit.end) > start)
    if end is not None:
        query = query.where(col(Visit.start) < end)
    if ends_after is not None:
        query = query.where(col(Visit.end) > ends_after)
    if not include_inactive:
        query = query.where(col(Visit.status).in_(states.ACTIVE))
    query = query.order_by(col(Visit.start)).limit(limit)
    visits = list((await session.execute(query)).scalars().all())
    for pid in sorted({v.patient_id for v in visits}):
        audit.record(
            session,
            Action.read,
            "visit_list",
            patient_id=pid,
            detail={"count": sum(1 for v in visits if v.patient_id == pid)},
        )
    return [await view_visit(session, v) for v in visits]


async def calendar_invite(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    base_url: str,
    secret: str,
    now: datetime,
) -> tuple[int, bytes]:
    """The visit's invite (.ics) for this reader, in their zone, audited as an export.

    The patient and schedulers get the patient's join link; the prescriber gets the call
    page; the invite names the other party and carries nothing clinical."""
    visit = await get_visit_for(
        session,
        actor,
        visit_id,
        roles=(Role.patient, Role.prescriber, Role.scheduler, Role.admin),
    )
    view = await view_visit(session, visit)
    link: str | None = None
    if can_see_join_link(actor, visit):
        link = joinlinks.join_url(base_url, visit, secret)
    elif actor.role is Role.prescriber and visit.modality is Modality.telehealth and active(visit):
        link = f"{base_url}/visits/{visit.id}/call"
    is_prescriber = actor.role is Role.prescriber
    data = ics.build_invite(
        visit,
        with_name=view.patient_name if is_prescriber else view.prescriber_name,
        timezone=view.patient_timezone if actor.role is Role.patient else view.prescriber_timezone,
        join_url=link,
        host=urlsplit(base_url).hostname or "telehealth",
        now=now,
    )
    audit.record(
        session,
        Action.export,
        "visit_invite",
        visit.id,
        patient_id=visit.patient_id,
        detail={"sequence": visit.sequence},
    )
    assert visit.id is not None
    return visit.id, data


# ---------------------------------------------------------------- people


@dataclass(frozen=True)
class PatientMatch:
    id: int
    full_name: str
    date_of_birth: date
    state: str
    timezone: str


_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _as_date(q: str) -> date | None:
    try:
        return date.fromisoformat(q)
    except ValueError:
        pass
    m = _US_DATE.match(q)
    if m:
        try:
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    return None


async def search_patients(
    session: AsyncSession, *, actor: Actor, q: str, limit: int = 20
) -> list[PatientMatch]:
    """Find patients by part of the name or by date of birth (YYYY-MM-DD or MM/DD/YYYY)."""
    ensure_can_book(actor)
    q = (q or "").strip()
    if len(q) < 2:
        raise InvalidInput("Type at least 2 letters of the name, or a date of birth.", field="q")
    if len(q) > 100:
        raise InvalidInput("q must be at most 100 characters.", field="q")
    query = (
        select(User, PatientProfile)
        .join(PatientProfile, col(PatientProfile.user_id) == col(User.id))
        .where(col(User.role) == Role.patient, col(User.is_active).is_(True))
    )
    dob = _as_date(q)
    if dob is not None:
        query = query.where(col(PatientProfile.date_of_birth) == dob)
    else:
        words = [w for w in q.lower().split() if w]
        escaped = [w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words]
        for w in escaped:
            query = query.where(
                or_(
                    func.lower(User.full_name).like(f"%{w}%", escape="\\"),
                    func.lower(User.username).like(f"%{w}%", escape="\\"),
                )
            )
    query = query.order_by(col(User.full_name)).limit(limit)
    rows = (await session.execute(query)).all()
    matches = [
        PatientMatch(u.id or 0, u.full_name, p.date_of_birth, p.state, p.timezone) for u, p in rows
    ]
    for m in matches:
        audit.record(session, Action.read, "patient_search", m.id, patient_id=m.id)
    if not matches:
        audit.record(session, Action.read, "patient_search", detail={"count": 0})
    return matches


async def get_patient_for_booking(
    session: AsyncSession, *, actor: Actor, patient_id: int
) -> PatientMatch:
    """One patient by id, for a page opened on them (a deep link, a reload); staff only.
    An id that is not an active patient answers NotFound."""
    ensure_can_book(actor)
    try:
        user, profile = await parties.patient(session, patient_id)
    except InvalidInput:
        raise NotFound() from None
    audit.record(session, Action.read, "patient", patient_id, patient_id=patient_id)
    return PatientMatch(
        user.id or 0, user.full_name, profile.date_of_birth, profile.state, profile.timezone
    )


async def patient_to_book(
    session: AsyncSession, *, actor: Actor, prescriber_id: int, patient_id: int
) -> tuple[User, PatientProfile]:
    """The patient a booking page is for, once the actor may book them on that calendar."""
    await parties.ensure_books_for(session, actor, prescriber_id, patient_id)
    user, profile = await parties.patient(session, patient_id)
    audit.record(session, Action.read, "patient", patient_id, patient_id=patient_id)
    return user, profile


async def patient_timezone(session: AsyncSession, patient_id: int | None) -> str | None:
    """A patient's zone, for labelling times; None for no patient (or an id none can have)."""
    if patient_id is None or not is_row_id(patient_id):
        return None
    patient = await session.get(PatientProfile, patient_id)
    return patient.timezone if patient else None


async def viewer_timezone(session: AsyncSession, actor: Actor) -> str | None:
    """The zone a person reads times in: their own profile's (staff have none)."""
    if actor.role is Role.patient:
        patient = await session.get(PatientProfile, actor.user_id)
        return patient.timezone if patient else None
    if actor.role is Role.prescriber:
        prescriber = await session.get(PrescriberProfile, actor.user_id)
        return prescriber.timezone if prescriber else None
    return None


@dataclass(frozen=True)
class PrescriberSummary:
    id: int
    full_name: str
    credential: str
    licensed_states: list[str]
    timezone: str
    buffer_minutes: int

    @classmethod
    def of(cls, user: User, profile: PrescriberProfile) -> PrescriberSummary:
        return cls(
            user.id or 0,
            user.full_name,
            profile.credential.value,
            list(profile.licensed_states),
            profile.timezone,
            profile.buffer_minutes,
        )


async def list_prescribers(session: AsyncSession, *, actor: Actor) -> list[PrescriberSummary]:
    ensure_role(actor, Role.admin, Role.scheduler, Role.prescriber)
    rows = (
        await session.execute(
            select(User, PrescriberProfile)
            .join(PrescriberProfile, col(PrescriberProfile.user_id) == col(User.id))
            .where(col(User.is_active).is_(True))
            .order_by(col(User.full_name))
        )
    ).all()
    return [PrescriberSummary.of(u, p) for u, p in rows]


async def prescriber_summary(session: AsyncSession, prescriber_id: int) -> PrescriberSummary:
    """One prescriber (NotFound for any other id); the caller has checked the actor."""
    user, profile = await parties.prescriber(session, prescriber_id)
    return PrescriberSummary.of(user, profile)
