"""Domain: the controlled-substance gate's policy (Ryan Haight Act, 21 U.S.C. 829(e)). Pure.

`decide` applies the practice's policy to plain facts (`OrderFacts`, gathered by
`gate.facts`); no database, no clock, no I/O, so every situation is a unit test.

The rule: an order for a controlled product (federal schedule, or the schedule of the state
where the patient is, on the order's date; an unclassified or unknown product counts as
controlled) that is not placed during an in-person visit is refused unless this prescriber
evaluated this patient in person, on or before the order, inside the lookback window when
one is configured. Another prescriber's in-person visit does not count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from telehealth.config import FEDERAL_FLEXIBILITY_END, Settings
from telehealth.errors import PermissionDenied
from telehealth.visits import states
from telehealth.visits.catalogue import Catalogue, Product, Schedule, ScheduleDecision
from telehealth.visits.gate.pathways import (
    COVERING_MONTHS,
    buprenorphine_route,
    months_before,
)
from telehealth.visits.models import Modality, Visit, VisitStatus

# Bump when the logic of `decide` changes; the settings part of the version follows below.
RULES_REVISION = "2026-11-27.2"
STATUTE = "Ryan Haight Act, 21 U.S.C. 829(e)"
FLEXIBILITY_CITATION = "21 CFR 1307.41 telemedicine flexibilities (90 FR 61301)"


class Rule(StrEnum):
    """Which branch of the policy decided. Stored in the audit trail; names are stable."""

    not_controlled = "not_controlled"
    in_person_visit = "in_person_visit"  # the order is placed during an in-person visit
    in_person_on_file = "in_person_on_file"  # 21 U.S.C. 829(e)(2)(A)(i)
    covering_practitioner = "covering_practitioner"  # 21 U.S.C. 829(e)(2)(C)
    va_pathway = "va_pathway"  # 90 FR 6523: another VA practitioner's evaluation
    buprenorphine_oud = "buprenorphine_oud"  # 90 FR 6504: OUD treatment by telemedicine
    federal_flexibility = "federal_flexibility"  # 21 CFR 1307.41, while in force
    in_person_required = "in_person_required"  # refusal


class EvidenceKind(StrEnum):
    in_person_visit = "in_person_visit"
    in_person_evaluation = "in_person_evaluation"


@dataclass(frozen=True)
class GatePolicy:
    """The practice's controlled-substance policy, as configured. Frozen: one per decision.

    Each optional pathway (covering practitioner, VA, buprenorphine for OUD) applies only
    when switched on, and only with the facts it needs on file.
    """

    lookback_days: int | None = None
    covering_practitioner: bool = False
    buprenorphine_oud_pathway: bool = False
    va_pathway: bool = False
    federal_flexibility: bool = False
    federal_flexibility_end: date = FEDERAL_FLEXIBILITY_END
    # The practice rule itself; kept explicit so the version names it.
    in_person_required: bool = True

    @classmethod
    def from_settings(cls, settings: Settings) -> GatePolicy:
        return cls(
            lookback_days=settings.in_person_lookback_days,
            covering_practitioner=settings.covering_practitioner,
            buprenorphine_oud_pathway=settings.buprenorphine_oud_pathway,
            va_pathway=settings.va_pathway,
            federal_flexibility=settings.federal_flexibility,
        )

    def flexibility_in_force(self, on: date) -> bool:
        """The flexibility ends itself after its end date, whatever the setting says."""
        return self.federal_flexibility and on <= self.federal_flexibility_end

    @property
    def version(self) -> str:
        """Names the rules revision and every setting, so an audit entry is self-explaining."""

        def onoff(flag: bool) -> str:
            return "on" if flag else "off"

        lookback = "none" if self.lookback_days is None else f"{self.lookback_days}d"
        return (
            f"{RULES_REVISION};in_person={onoff(self.in_person_required)};lookback={lookback};"
            f"flexibility={onoff(self.federal_flexibility)}"
            f"<={self.federal_flexibility_end.isoformat()};"
            f"covering={onoff(self.covering_practitioner)};"
            f"bup_oud={onoff(self.buprenorphine_oud_pathway)};va={onoff(self.va_pathway)}"
        )


@dataclass(frozen=True)
class Evidence:
    """An in-person evaluation on file: a finished in-person visit or an attested one."""

    kind: EvidenceKind
    id: int
    prescriber_id: int
    day: date  # the calendar day of the evaluation, in the patient's time zone
    at: datetime | None = None  # the visit's start; None for attested (date-only) rows

    def as_detail(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "id": self.id, "on": self.day.isoformat()}


@dataclass(frozen=True)
class PathwayRequest:
    """What the prescriber states with an order that only some pathways use."""

    indication: str | None = None
    days_supply: int | None = None
    pdmp_state: str | None = None
    pdmp_unavailable: bool = False


@dataclass(frozen=True)
class OrderFacts:
    """Everything `decide` needs, as plain values."""

    patient_id: int
    prescriber_id: int
    visit_id: int
    visit_in_person: bool  # the order is placed during an in-person visit the patient attends
    product_id: str
    drug_name: str
    schedule: ScheduleDecision
    state: str | None
    state_source: str  # "attested" (check-in), "home_state" (profile) or "unknown"
    order_at: datetime
    order_day: date
    evidence: Sequence[Evidence] = ()
    catalogue_version: str = ""
    # Whom this prescriber covers for on the order's day (covering-practitioner route).
    covered_prescriber_ids: frozenset[int] = frozenset()
    # The VA route: is this prescriber a VA practitioner, and who else is.
    prescriber_is_va: bool = False
    va_prescriber_ids: frozenset[int] = frozenset()
    # The buprenorphine (OUD) route: the order is buprenorphine for opioid use disorder,
    # with what the prescriber recorded, and the supply already given by this route.
    buprenorphine_oud: bool = False
    days_supply: int | None = None
    pdmp_state: str | None = None
    pdmp_unavailable: bool = False
    pathway_days_used: int = 0
    pathway_started: date | None = None


@dataclass(frozen=True)
class GateDecision:
    allowed: bool
    rule: Rule
    policy_version: str
    catalogue_version: str
    controlled: bool
    schedule: Schedule | None
    schedule_basis: str
    jurisdiction: str
    state: str | None
    state_source: str
    evidence: Evidence | None
    message: str
    # A refusal's way forward: book an in-person visit with this patient (the web layer
    # makes the link; the domain only says whom).
    book_in_person_with: int | None = None
    notes: tuple[str, ...] = field(default=())

    def audit_detail(self, facts: OrderFacts) -> dict[str, Any]:
        # Ids, codes and rule names only: no drug names (PHI once tied to a patient).
        return {
            "decision": "allow" if self.allowed else "deny",
            "rule": self.rule.value,
            "statute": STATUTE,
            "policy_version": self.policy_version,
            "catalogue_version": self.catalogue_version,
            "controlled": self.controlled,
            "schedule": self.schedule.value if self.schedule else None,
            "jurisdiction": self.jurisdiction,
            "state": self.state,
            "state_source": self.state_source,
            "evidence": self.evidence.as_detail() if self.evidence else None,
            "visit_id": facts.visit_id,
            "prescriber_id": facts.prescriber_id,
            "notes": list(self.notes),
        }


class InPersonRequired(PermissionDenied):
    code = "in_person_required"
    audited = True  # the gate decision is the audit entry
    message = "This controlled substance needs an in-person evaluation by you first."

    def __init__(self, message: str, *, book_in_person_with: int | None, **extra: Any) -> None:
        super().__init__(message, **extra)
        # Whom to book in person to open the gate (not sent as is: the web layer adds
        # the booking link).
        self.book_in_person_with = book_in_person_with


def _schedule_words(schedule: ScheduleDecision) -> str:
    if schedule.schedule is None:
        return "not classified in our catalogue, so it is treated as a controlled substance"
    where = "federal" if schedule.jurisdiction == "federal" else f"{schedule.jurisdiction} state"
    return (
        f"a Schedule {schedule.schedule.value} controlled substance "
        f"({where} schedule: {schedule.basis})"
    )


def decide(facts: OrderFacts, policy: GatePolicy) -> GateDecision:
    """The policy, applied to plain facts. Pure: no clock, no database."""
    sched = facts.schedule
    notes: list[str] = []
    if facts.state_source == "home_state":
        notes.append("no location attested at check-in: the patient's home state was used")
    elif facts.state_source == "unknown":
        notes.append("the patient's location is unknown: federal schedules only")

    def decision(
        allowed: bool,
        rule: Rule,
        message: str,
        evidence: Evidence | None = None,
        book_in_person: bool = False,
    ) -> GateDecision:
        return GateDecision(
            allowed=allowed,
            rule=rule,
            policy_version=policy.version,
            catalogue_version=facts.catalogue_version,
            controlled=sched.controlled,
            schedule=sched.schedule,
            schedule_basis=sched.basis,
            jurisdiction=sched.jurisdiction,
            state=facts.state,
            state_source=facts.state_source,
            evidence=evidence,
            message=message,
            book_in_person_with=facts.patient_id if book_in_person else None,
            notes=tuple(notes),
        )

    if not sched.controlled:
        return decision(True, Rule.not_controlled, f"{facts.drug_name} is not controlled.")
    if facts.visit_in_person:
        return decision(
            True, Rule.in_person_visit, f"{facts.drug_name} ordered during an in-person visit."
        )
    if not policy.in_person_required:  # pragma: no cover - the practice never turns it off
        return decision(True, Rule.not_controlled, "In-person rule switched off.")

    def newest_first(items: list[Evidence]) -> list[Evidence]:
        return sorted(
            items,
            key=lambda e: (e.day, e.at or datetime.min.replace(tzinfo=facts.order_at.tzinfo)),
            reverse=True,
        )

    def windowed(items: list[Evidence]) -> list[Evidence]:
        # The practice's lookback window applies to every route.
        if policy.lookback_days is None:
            return items
        return [e for e in items if (facts.order_day - e.day).days <= policy.lookback_days]

    # Evaluations on or before the order.
    prior = newest_first(
        [
            e
            for e in facts.evidence
            if e.day <= facts.order_day and (e.at is None or e.at <= facts.order_at)
        ]
    )
    own = [e for e in prior if e.prescriber_id == facts.prescriber_id]
    in_window = windowed(own)
    if in_window:
        latest = in_window[0]
        return decision(
            True,
            Rule.in_person_on_file,
            f"In-person evaluation on file ({latest.day.isoformat()}).",
            latest,
        )
    if policy.covering_practitioner and facts.covered_prescriber_ids:
        cutoff = months_before(facts.order_day, COVERING_MONTHS)
        covered = windowed(
            [
                e
                for e in prior
                if e.prescriber_id in facts.covered_prescriber_ids and e.day >= cutoff
            ]
        )
        if covered:
            return decision(
                True,
                Rule.covering_practitioner,
                f"Covering for the prescriber who evaluated the patient in person on "
                f"{covered[0].day.isoformat()} (21 U.S.C. 829(e)(2)(C), within "
                f"{COVERING_MONTHS} months).",
                covered[0],
            )
    if policy.va_pathway and facts.prescriber_is_va:
        va = windowed(
            [
                e
                for e in prior
                if e.prescriber_id in facts.va_prescriber_ids
                and e.prescriber_id != facts.prescriber_id
            ]
        )
        if va:
            return decision(
                True,
                Rule.va_pathway,
                f"A VA practitioner evaluated the patient in person on {va[0].day.isoformat()} "
                "(90 FR 6523).",
                va[0],
            )
    if policy.buprenorphine_oud_pathway and facts.buprenorphine_oud:
        allowed, why = buprenorphine_route(facts)
        if allowed:
            return decision(True, Rule.buprenorphine_oud, why)
        return decision(
            False,
            Rule.in_person_required,
            f"{facts.drug_name}: {why}",
            book_in_person=True,
        )
    # The flexibility's last day is judged on the federal government's clock (US Eastern),
    # not the patient's zone, so no zone can stretch it.
    if policy.flexibility_in_force(facts.order_at.astimezone(FEDERAL_ZONE).date()):
        return decision(
            True,
            Rule.federal_flexibility,
            f"Allowed under the {FLEXIBILITY_CITATION}, in force until "
            f"{policy.federal_flexibility_end.isoformat()}.",
        )

    if own and policy.lookback_days is not None:
        why = (
            f"Your last in-person evaluation of this patient ({own[0].day.isoformat()}) is "
            f"older than the practice's {policy.lookback_days}-day window."
        )
    else:
        why = (
            "No in-person evaluation of this patient by you is on file; another "
            "prescriber's in-person visit does not count."
        )
    message = (
        f"{facts.drug_name} is {_schedule_words(sched)}. Federal law ({STATUTE}) requires that "
        f"you evaluate the patient in person before prescribing it by telemedicine. {why} "
        "Book an in-person visit with this patient, or record an earlier in-person evaluation "
        "you did, then order it again."
    )
    return decision(False, Rule.in_person_required, message, book_in_person=True)


FEDERAL_ZONE = ZoneInfo("America/New_York")
# An in-person visit that ended less than this long ago still means the patient is present.
PRESENCE_WINDOW = timedelta(hours=24)


def schedule_for(
    catalogue: Catalogue, product_id: str, *, state: str | None, on: date
) -> ScheduleDecision:
    """The catalogue's answer, failing closed for anything it cannot classify."""
    if catalogue.get(product_id) is None:
        return ScheduleDecision(
            True, None, "not in the catalogue: treated as controlled", "federal"
        )
    try:
        return catalogue.schedule_on(product_id, state=state, on=on)
    except ValueError:
        # A location we cannot read: federal law only would be guessing. Fail closed.
        federal = catalogue.schedule_on(product_id, state=None, on=on)
        return ScheduleDecision(
            True,
            federal.schedule,
            "patient location not recognised: treated as controlled",
            federal.jurisdiction,
        )


def present_in_person(visit: Visit, *, patient_id: int, prescriber_id: int, on: datetime) -> bool:
    """The patient is (or was, today) in the room with this prescriber: an in-person visit
    that is running, or that ended less than a day ago. An old finished visit is evidence,
    not presence."""
    return (
        visit.modality is Modality.in_person
        and visit.status in states.ATTENDED
        and visit.patient_id == patient_id
        and visit.prescriber_id == prescriber_id
        and (
            visit.status is not VisitStatus.finished
            or on - (visit.ended_at or visit.end) <= PRESENCE_WINDOW
        )
    )


def jurisdiction_of(attested: str | None, home_state: str | None) -> tuple[str | None, str]:
    """The state whose schedules apply, and where it came from: the location attested at
    check-in, else the patient's home state, else unknown (federal schedules only)."""
    if attested:
        return attested, "attested"
    if home_state:
        return home_state, "home_state"
    return None, "unknown"


def buprenorphine_for_oud(
    policy: GatePolicy, product: Product | None, indication: str | None
) -> bool:
    """The order may take the buprenorphine route (90 FR 6504): the pathway is on, the
    product contains buprenorphine and the prescriber states opioid use disorder."""
    return bool(
        policy.buprenorphine_oud_pathway
        and product is not None
        and "buprenorphine" in product.ingredients
        and indication == "opioid_use_disorder"
    )


def ensure_allowed(decision: GateDecision) -> None:
    """Raise the refusal the client sees: 403 in_person_required with a way forward."""
    if decision.allowed:
        return
    raise InPersonRequired(
        decision.message,
        book_in_person_with=decision.book_in_person_with,
        schedule=decision.schedule.value if decision.schedule else None,
        jurisdiction=decision.jurisdiction,
        rule=STATUTE,
    )
