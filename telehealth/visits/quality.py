"""Domain: connection-quality samples of a video call, kept on the visit's call history so
a practice can see which visits struggled. Numbers only (round trip, loss, bitrate, the
page's verdict): never media, never anything the participants said or showed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth.auth.policy import Actor
from telehealth.errors import InvalidTransition, NotFound, RateLimited
from telehealth.visits import states
from telehealth.visits.access import get_visit_for, is_participant
from telehealth.visits.lifecycle import record_call_event, role_in
from telehealth.visits.models import VisitEvent

QUALITY_EVENT = "call_quality"
# One sample per participant per interval is plenty to see a struggling call; it also
# bounds what one page can write (checked in the database, so across processes too).
MIN_SAMPLE_INTERVAL = timedelta(seconds=10)


@dataclass(frozen=True)
class QualitySample:
    """What the call page measured over its last few seconds (None: not measured)."""

    rtt_ms: int | None
    loss_percent: float | None
    bitrate_kbps: int | None
    poor: bool


async def record_call_quality(
    session: AsyncSession, *, actor: Actor, visit_id: int, sample: QualitySample, now: datetime
) -> VisitEvent:
    """A participant's page reports how its call is going, at most once per interval."""
    visit = await get_visit_for(session, actor, visit_id)
    if not is_participant(actor, visit):
        raise NotFound()
    if visit.status not in states.IN_CALL:
        raise InvalidTransition("This visit is not in a call.")
    role = role_in(actor, visit)
    last = (
        await session.execute(
            select(func.max(col(VisitEvent.at))).where(
                col(VisitEvent.visit_id) == visit_id,
                col(VisitEvent.kind) == QUALITY_EVENT,
                col(VisitEvent.role) == role,
            )
        )
    ).scalar_one_or_none()
    if last is not None and now - _aware(last, now) < MIN_SAMPLE_INTERVAL:
        raise RateLimited(
            "Connection quality was reported a moment ago; report again in ten seconds."
        )
    return await record_call_event(
        session,
        visit=visit,
        kind=QUALITY_EVENT,
        role=role,
        actor_id=actor.user_id,
        now=now,
        detail=asdict(sample),
    )


def _aware(at: datetime, now: datetime) -> datetime:
    # SQLite hands back naive datetimes for UTCDateTime columns in aggregates.
    return at if at.tzinfo is not None else at.replace(tzinfo=now.tzinfo)
