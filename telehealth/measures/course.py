"""Domain: a patient's measures over time, and what they say (response, remission), in words.

Who may read them: the patient themself (a full session) and a prescriber who treats them,
as for the medication list (`visits.medlist.ensure_chart_access`); anyone else gets NotFound.
The course puts every submitted score on one time line with the medication list's history
(started, dose changed, stopped), which is what a prescriber weighs at a follow-up.
`read_course` puts one instrument's course in words: the changes and readings for the
prescriber, and a plain paragraph for the patient; pages only place them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.policy import Actor
from telehealth.measures.instruments import Instrument, InstrumentSet, packaged_instruments
from telehealth.measures.models import QuestionnaireResponse, ResponseStatus
from telehealth.timefmt import format_date
from telehealth.visits.medlist import EventKind, ensure_chart_access
from telehealth.visits.models import MedicationEvent, PatientMedication


@dataclass(frozen=True)
class Measure:
    instrument: str
    visit_id: int
    submitted_at: datetime
    score: int
    severity: str
    response_id: int


@dataclass(frozen=True)
class Change:
    """A score against an earlier one: points and percent (negative is better)."""

    points: int
    percent: float | None  # None when the earlier score was 0


def _change(now: int, before: int) -> Change:
    return Change(now - before, None if before == 0 else (now - before) / before * 100)


@dataclass(frozen=True)
class InstrumentCourse:
    instrument: Instrument
    measures: list[Measure]
    response_fall: float

    @property
    def baseline(self) -> Measure:
        return self.measures[0]

    @property
    def latest(self) -> Measure:
        return self.measures[-1]

    @property
    def previous(self) -> Measure | None:
        """The one before the latest: the last visit's score."""
        return self.measures[-2] if len(self.measures) > 1 else None

    @property
    def since_baseline(self) -> Change | None:
        if len(self.measures) < 2:
            return None
        return _change(self.latest.score, self.baseline.score)

    @property
    def since_previous(self) -> Change | None:
        prev = self.previous
        return None if prev is None else _change(self.latest.score, prev.score)

    @property
    def responded(self) -> bool:
        """At least a `response_fall` (50%) fall from the baseline score."""
        base = self.baseline.score
        return (
            len(self.measures) > 1
            and base > 0
            and (base - self.latest.score) >= self.response_fall * base
        )

    @property
    def remitted(self) -> bool:
        return self.latest.score < self.instrument.remission_below

    @property
    def band_label(self) -> str:
        return self.instrument.band(self.latest.score).label


@dataclass(frozen=True)
class MedicationMark:
    at: datetime
    kind: str  # EventKind: started, dose_changed, stopped (renewals are not changes)
    name: str
    dose: str | None
    frequency: str | None


MARK_WORDS = {
    EventKind.started: "Started",
    EventKind.dose_changed: "Dose changed",
    EventKind.stopped: "Stopped",
}


def mark_words(mark: MedicationMark) -> str:
    """A medication change in words: "Started: sertraline 50 mg tablet 50 mg once daily"."""
    dose = " ".join(x for x in (mark.dose, mark.frequency) if x)
    words = MARK_WORDS.get(mark.kind, mark.kind)
    shown = dose and mark.kind != EventKind.stopped
    return f"{words}: {mark.name}" + (f" {dose}" if shown else "")


@dataclass(frozen=True)
class Course:
    patient_id: int
    instruments: list[InstrumentCourse]
    medication_marks: list[MedicationMark]

    @property
    def empty(self) -> bool:
        return not self.instruments


async def _submitted(
    session: AsyncSession, patient_id: int, instrument: str | None
) -> list[QuestionnaireResponse]:
    query = select(QuestionnaireResponse).where(
        col(QuestionnaireResponse.patient_id) == patient_id,
        col(QuestionnaireResponse.status) == ResponseStatus.submitted,
    )
    if instrument is not None:
        query = query.where(col(QuestionnaireResponse.instrument) == instrument)
    rows = await session.execute(
        query.order_by(col(QuestionnaireResponse.submitted_at), col(QuestionnaireResponse.id))
    )
    return list(rows.scalars())


def _measure(row: QuestionnaireResponse) -> Measure:
    assert row.id is not None and row.submitted_at is not None and row.score is not None
    return Measure(
        instrument=row.instrument,
        visit_id=row.visit_id,
        submitted_at=row.submitted_at,
        score=row.score,
        severity=row.severity or "",
        response_id=row.id,
    )


async def list_measures(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int,
    instrument: str | None = None,
    instruments: InstrumentSet | None = None,
) -> list[Measure]:
    """Every submitted score of the patient, oldest first (one instrument, or all)."""
    instruments = instruments or packaged_instruments()
    if instrument is not None:
        instruments.require(instrument)
    await ensure_chart_access(session, actor, patient_id)
    measures = [_measure(r) for r in await _submitted(session, patient_id, instrument)]
    audit.record(
        session,
        Action.read,
        "questionnaire_response",
        None,
        patient_id=patient_id,
        detail={"view": "measures", "count": len(measures)},
    )
    return measures


async def _medication_marks(session: AsyncSession, patient_id: int) -> list[MedicationMark]:
    rows = await session.execute(
        select(MedicationEvent, PatientMedication.medication_name)
        .join(
            PatientMedication,
            col(PatientMedication.id) == col(MedicationEvent.patient_medication_id),
        )
        .where(
            col(PatientMedication.patient_id) == patient_id,
            col(MedicationEvent.kind).in_(
                (EventKind.started, EventKind.dose_changed, EventKind.stopped)
            ),
        )
        .order_by(col(MedicationEvent.at), col(MedicationEvent.id))
    )
    return [
        MedicationMark(event.at, event.kind, name, event.dose, event.frequency)
        for event, name in rows.all()
    ]


async def patient_course(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int,
    instruments: InstrumentSet | None = None,
) -> Course:
    """The course of every instrument the patient has answered, with the medication changes."""
    instruments = instruments or packaged_instruments()
    await ensure_chart_access(session, actor, patient_id)
    by_instrument: dict[str, list[Measure]] = {}
    for row in await _submitted(session, patient_id, None):
        by_instrument.setdefault(row.instrument, []).append(_measure(row))
    courses = [
        InstrumentCourse(inst, by_instrument[inst.id], instruments.response_fall)
        for inst in instruments.instruments.values()
        if by_instrument.get(inst.id)
    ]
    marks = await _medication_marks(session, patient_id)
    audit.record(
        session,
        Action.read,
        "questionnaire_response",
        None,
        patient_id=patient_id,
        detail={"view": "course", "count": sum(len(c.measures) for c in courses)},
    )
    return Course(patient_id, courses, marks)


@dataclass(frozen=True)
class Reading:
    """One instrument's course in words, days written in the reader's time zone."""

    since_baseline: str  # for the prescriber: "14 points lower (44%) than the first measure"
    since_previous: str  # for the prescriber: against the last visit's score
    flags: tuple[str, ...]  # the readings that hold: response, remission
    plain: str  # for the patient: their latest score and its change, in plain words


def change_words(change: Change | None, *, since: str) -> str:
    if change is None:
        return ""
    if change.points == 0:
        return f"no change since {since}"
    direction = "lower" if change.points < 0 else "higher"
    pct = f" ({abs(change.percent):.0f}%)" if change.percent is not None else ""
    return f"{abs(change.points)} points {direction}{pct} than {since}"


def read_course(c: InstrumentCourse, zone_name: str) -> Reading:
    previous = c.previous
    flags = []
    if c.responded:
        flags.append(f"Response: at least {c.response_fall:.0%} below baseline")
    if c.remitted:
        flags.append(f"Remission: under {c.instrument.remission_below}")
    return Reading(
        since_baseline=change_words(c.since_baseline, since="the first measure"),
        since_previous=(
            change_words(c.since_previous, since=f"the last visit ({previous.score})")
            if previous
            else ""
        ),
        flags=tuple(flags),
        plain=plain_words(c, zone_name),
    )


def plain_words(c: InstrumentCourse, zone_name: str) -> str:
    """The patient's reading of their own course, in plain words."""
    latest = c.latest
    text = (
        f"Your {c.instrument.name} ({c.instrument.topic}) score was {latest.score} out of "
        f"{c.instrument.max_score} on {format_date(latest.submitted_at, zone_name)}, in the "
        f"range of {c.band_label}."
    )
    change = c.since_baseline
    if change is None:
        return text
    first = c.baseline
    first_day = format_date(first.submitted_at, zone_name)
    if change.points < 0:
        return text + (
            f" That is {abs(change.points)} points lower than your first score "
            f"({first.score} on {first_day}): lower means fewer symptoms."
        )
    if change.points > 0:
        return text + (
            f" That is {change.points} points higher than your first score "
            f"({first.score} on {first_day}). Talk it over with your prescriber."
        )
    return text + f" It is the same as your first score on {first_day}."
