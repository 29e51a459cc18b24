"""Domain: the questionnaires a patient answers before a visit, saved as they go.

Which instruments a visit asks is a practice setting per visit type (`MeasuresPolicy`).
The patient (signed in, or through the visit's link) saves a draft after every answer and
submits once; the server scores the submission, and an answer that needs a clinician the
same day (PHQ-9 item 9 above 0) opens a safety alert in the same transaction, so a patient's
answer can never reach the database without its alert.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.db import is_row_id
from telehealth.errors import Conflict, NotFound
from telehealth.measures import alerts
from telehealth.measures.instruments import (
    CrisisResource,
    Instrument,
    InstrumentSet,
    packaged_instruments,
)
from telehealth.measures.models import QuestionnaireResponse, ResponseStatus, SafetyAlert
from telehealth.visits import states
from telehealth.visits.access import can_see_visit
from telehealth.visits.models import Visit, VisitType


@dataclass(frozen=True)
class MeasuresPolicy:
    """Which instruments each visit type asks for (a practice setting)."""

    by_visit_type: Mapping[VisitType, tuple[str, ...]] = field(
        default_factory=lambda: {
            VisitType.follow_up: ("phq9", "gad7"),
            VisitType.initial_evaluation: ("phq9", "gad7"),
        }
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> MeasuresPolicy:
        return cls(
            {
                VisitType.follow_up: tuple(settings.measures_follow_up),
                VisitType.initial_evaluation: tuple(settings.measures_initial_evaluation),
            }
        )

    def asked(self, visit: Visit, instruments: InstrumentSet) -> list[Instrument]:
        ids = self.by_visit_type.get(visit.visit_type, ())
        return [i for i in (instruments.get(x) for x in ids) if i is not None]


def check_policy(policy: MeasuresPolicy, instruments: InstrumentSet) -> list[str]:
    """Instrument ids in the policy that the instruments file does not know (start-up check)."""
    return sorted(
        {
            iid
            for ids in policy.by_visit_type.values()
            for iid in ids
            if instruments.get(iid) is None
        }
    )


@dataclass(frozen=True)
class QuestionnaireView:
    instrument: Instrument
    response: QuestionnaireResponse | None

    @property
    def status(self) -> str:
        return self.response.status.value if self.response else "not_started"

    @property
    def answers(self) -> dict[str, int]:
        return dict(self.response.answers) if self.response else {}

    @property
    def submitted(self) -> QuestionnaireResponse | None:
        """The response once submitted: its score and severity mean something only then."""
        response = self.response
        return response if response is not None and response.submitted_at is not None else None

    @property
    def score(self) -> int | None:
        return self.submitted.score if self.submitted else None

    @property
    def severity(self) -> str | None:
        return self.submitted.severity if self.submitted else None

    @property
    def submitted_at(self) -> datetime | None:
        return self.response.submitted_at if self.response else None


@dataclass(frozen=True)
class SaveResult:
    view: QuestionnaireView
    alert: SafetyAlert | None
    crisis_resources: Sequence[CrisisResource]


async def _visit_for_questionnaires(
    session: AsyncSession, actor: Actor, visit_id: int, *, write: bool
) -> Visit:
    """The visit, for its own patient (any of their sessions for it) or, to read, its
    prescriber. Anyone else: NotFound, audited, exactly like a missing visit."""
    visit = (
        await session.get(Visit, visit_id, with_for_update=write) if is_row_id(visit_id) else None
    )
    allowed = False
    if visit is not None:
        if actor.questionnaires_only:
            allowed = actor.visit_scope == visit.id and actor.user_id == visit.patient_id
        elif actor.role is Role.patient:
            allowed = can_see_visit(actor, visit)
        elif actor.role is Role.prescriber and not write:
            allowed = visit.prescriber_id == actor.user_id and actor.visit_scope is None
    if not allowed:
        audit.record(
            session,
            Action.access_denied,
            "questionnaire_response",
            None,
            outcome=Outcome.failure,
            patient_id=visit.patient_id if visit is not None else None,
            detail={"visit_id": visit_id},
            durable=True,
        )
        raise NotFound()
    assert visit is not None
    return visit


async def _responses(session: AsyncSession, visit_id: int) -> dict[str, QuestionnaireResponse]:
    rows = (
        await session.execute(
            select(QuestionnaireResponse).where(col(QuestionnaireResponse.visit_id) == visit_id)
        )
    ).scalars()
    return {row.instrument: row for row in rows}


def _views(
    visit: Visit,
    policy: MeasuresPolicy,
    instruments: InstrumentSet,
    responses: Mapping[str, QuestionnaireResponse],
) -> list[QuestionnaireView]:
    asked = policy.asked(visit, instruments)
    ids = [i.id for i in asked]
    # Answers given before the practice changed its setting are still shown.
    for iid in responses:
        extra = instruments.get(iid)
        if iid not in ids and extra is not None:
            asked.append(extra)
    return [QuestionnaireView(i, responses.get(i.id)) for i in asked]


async def list_questionnaires(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    policy: MeasuresPolicy,
    instruments: InstrumentSet | None = None,
) -> tuple[Visit, list[QuestionnaireView]]:
    """What this visit asks, with the patient's draft or submitted answers so far."""
    instruments = instruments or packaged_instruments()
    visit = await _visit_for_questionnaires(session, actor, visit_id, write=False)
    views = _views(visit, policy, instruments, await _responses(session, visit_id))
    audit.record(
        session,
        Action.read,
        "questionnaire_response",
        None,
        patient_id=visit.patient_id,
        detail={"visit_id": visit_id, "count": sum(1 for v in views if v.response)},
    )
    return visit, views


async def pending_for_visit(
    session: AsyncSession, visit: Visit, policy: MeasuresPolicy
) -> list[Instrument]:
    """The instruments this visit asks that are not submitted yet (no access check: the
    caller has already authorised the visit)."""
    if visit.status not in states.ACTIVE or visit.id is None:
        return []
    instruments = packaged_instruments()
    responses = await _responses(session, visit.id)
    return [
        v.instrument
        for v in _views(visit, policy, instruments, responses)
        if v.status != ResponseStatus.submitted.value
    ]


def _merge(existing: Mapping[str, Any], changes: Mapping[str, int | None]) -> dict[str, Any]:
    """The draft with `changes` applied; a None answer clears that question."""
    merged = dict(existing)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def save_answers(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    instrument_id: str,
    answers: Mapping[str, int | None],
    submit: bool,
    policy: MeasuresPolicy,
    now: datetime,
    instruments: InstrumentSet | None = None,
) -> SaveResult:
    """Save the patient's answers so far, and with `submit` score and freeze them.

    `answers` are the changes since the last save: item id to answer value, None to clear
    it; the instrument checks the items and values. A submission whose scoring raises a
    safety alert opens it here, in this transaction.
    """
    instruments = instruments or packaged_instruments()
    # The visit row lock serialises two tabs saving at once (one row per instrument).
    visit = await _visit_for_questionnaires(session, actor, visit_id, write=True)
    assert visit.id is not None
    responses = await _responses(session, visit.id)
    views = {v.instrument.id: v for v in _views(visit, policy, instruments, responses)}
    view = views.get(instrument_id)
    if view is None:
        instruments.require(instrument_id)  # an unknown id says which ones exist
        raise NotFound("This visit does not ask for that questionnaire.")
    instrument = view.instrument
    row = view.response
    if row is not None and row.status is ResponseStatus.submitted:
        raise Conflict(
            f"Your {instrument.name} for this visit was already sent. Thank you: there is "
            "nothing more to do for it.",
            code="already_submitted",
        )
    if visit.status not in states.ACTIVE:
        raise Conflict(
            "This visit is over, so its questionnaires can no longer be changed.",
            code="visit_over",
        )
    merged = _merge(row.answers if row else {}, answers)
    clean = instrument.check_answers(merged, complete=submit)
    if row is None:
        row = QuestionnaireResponse(
            visit_id=visit.id,
            patient_id=visit.patient_id,
            instrument=instrument.id,
            instruments_version=instruments.version,
            created_at=now,
        )
        session.add(row)
    row.answers = clean
    row.updated_at = now
    row.instruments_version = instruments.version
    alert = None
    if submit:
        scored = instrument.score(clean)
        row.status = ResponseStatus.submitted
        row.score = scored.total
        row.severity = scored.severity
        row.submitted_at = now
    await session.flush()
    assert row.id is not None
    audit.record(
        session,
        Action.update if view.response is not None else Action.create,
        "questionnaire_response",
        row.id,
        patient_id=visit.patient_id,
        detail={
            "visit_id": visit.id,
            "instrument": instrument.id,
            "status": row.status.value,
            "answered": len(clean),
        },
    )
    if submit:
        for kind in instrument.score(clean).alerts:
            alert = await alerts.open_alert(session, visit=visit, response=row, kind=kind, now=now)
    return SaveResult(
        view=QuestionnaireView(instrument, row),
        alert=alert,
        crisis_resources=instruments.crisis_resources if alert is not None else (),
    )


async def upcoming_visits(session: AsyncSession, *, actor: Actor, now: datetime) -> list[Visit]:
    """The signed-in patient's own visits still to come (for their home page)."""
    if actor.role is not Role.patient or actor.visit_scope is not None:
        return []
    rows = await session.execute(
        select(Visit)
        .where(
            col(Visit.patient_id) == actor.user_id,
            col(Visit.status).in_(states.ACTIVE),
            col(Visit.end) > now,
        )
        .order_by(col(Visit.start))
        .limit(20)
    )
    return list(rows.scalars())
