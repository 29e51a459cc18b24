"""Domain: covering practitioners (21 U.S.C. 829(e)(2)(C)).

A prescriber who evaluated a patient in person may ask a colleague to cover for them for a
span of days; during it, the colleague may prescribe controlled substances by telemedicine
on the strength of that evaluation (if it is no older than 24 months), when the practice
switches the pathway on (TELEHEALTH_COVERING_PRACTITIONER).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import CoverageAssignment, PrescriberProfile, Role
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput, NotFound, PermissionDenied

MAX_SPAN_DAYS = 366


async def _prescriber(session: AsyncSession, prescriber_id: int, field: str) -> int:
    if not is_row_id(prescriber_id) or await session.get(PrescriberProfile, prescriber_id) is None:
        raise InvalidInput(f"{field} must be a prescriber's id.", field=field)
    return prescriber_id


async def record_coverage(
    session: AsyncSession,
    *,
    actor: Actor,
    covering_id: int,
    covered_id: int,
    starts_on: date,
    ends_on: date,
    now: datetime,
) -> CoverageAssignment:
    """Record that `covering_id` covers for `covered_id` from starts_on to ends_on.

    An admin records it, or the covered prescriber asks for it themselves.
    """
    if actor.visit_scope is not None or actor.role not in (Role.admin, Role.prescriber):
        raise PermissionDenied()
    if await session.get(PrescriberProfile, covering_id) is None:
        raise NotFound()
    await _prescriber(session, covered_id, "covered_prescriber_id")
    if actor.role is Role.prescriber and actor.user_id != covered_id:
        raise PermissionDenied(
            "Only the prescriber being covered, or an administrator, can ask for cover."
        )
    if covered_id == covering_id:
        raise InvalidInput(
            "A prescriber cannot cover for themselves.", field="covered_prescriber_id"
        )
    if ends_on < starts_on:
        raise InvalidInput("ends_on must be on or after starts_on.", field="ends_on")
    if (ends_on - starts_on).days >= MAX_SPAN_DAYS:
        raise InvalidInput("Cover is temporary: at most a year at a time.", field="ends_on")
    row = CoverageAssignment(
        covering_prescriber_id=covering_id,
        covered_prescriber_id=covered_id,
        starts_on=starts_on,
        ends_on=ends_on,
        created_at=now,
        created_by_id=actor.user_id,
    )
    session.add(row)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "coverage",
        row.id,
        detail={"covering": covering_id, "covered": covered_id},
    )
    return row


async def list_coverage(
    session: AsyncSession, *, actor: Actor, prescriber_id: int
) -> list[CoverageAssignment]:
    """Cover given or received by a prescriber: visible to them and to administrators."""
    if actor.visit_scope is not None or not (
        actor.role is Role.admin
        or (actor.role is Role.prescriber and actor.user_id == prescriber_id)
    ):
        raise NotFound()
    rows = await session.execute(
        select(CoverageAssignment)
        .where(
            or_(
                col(CoverageAssignment.covering_prescriber_id) == prescriber_id,
                col(CoverageAssignment.covered_prescriber_id) == prescriber_id,
            )
        )
        .order_by(col(CoverageAssignment.starts_on).desc())
    )
    return list(rows.scalars().all())


async def covered_on(session: AsyncSession, *, covering_id: int, at: datetime) -> frozenset[int]:
    """The prescribers `covering_id` covers for at that instant.

    Cover runs over whole days of the covering prescriber's own calendar (their time zone):
    "Monday to Friday" means their working days, wherever the patient is.
    """
    profile = await session.get(PrescriberProfile, covering_id)
    if profile is None:
        return frozenset()
    try:
        zone = ZoneInfo(profile.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    on = at.astimezone(zone).date()
    rows = await session.execute(
        select(col(CoverageAssignment.covered_prescriber_id)).where(
            col(CoverageAssignment.covering_prescriber_id) == covering_id,
            col(CoverageAssignment.starts_on) <= on,
            col(CoverageAssignment.ends_on) >= on,
        )
    )
    return frozenset(int(r) for r in rows.scalars().all())
