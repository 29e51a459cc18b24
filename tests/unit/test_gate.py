"""The in-person gate, decided from plain facts: one row per situation the rule must handle."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from telehealth.config import Settings
from telehealth.visits.catalogue import Catalogue, Schedule
from telehealth.visits.catalogue_file import packaged_catalogue
from telehealth.visits.gate.policy import (
    Evidence,
    EvidenceKind,
    GatePolicy,
    InPersonRequired,
    OrderFacts,
    Rule,
    decide,
    ensure_allowed,
    schedule_for,
)

PATIENT, BOB, CHARLIE, VISIT = 11, 22, 33, 44
ORDER_AT = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)
STRICT = GatePolicy()


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return packaged_catalogue()


def visit_by(prescriber: int, days_before: int, *, hours_before: int = 0) -> Evidence:
    at = ORDER_AT - timedelta(days=days_before, hours=hours_before)
    return Evidence(EvidenceKind.in_person_visit, 900 + days_before, prescriber, at.date(), at)


def attested_by(prescriber: int, days_before: int) -> Evidence:
    day = ORDER_AT.date() - timedelta(days=days_before)
    return Evidence(EvidenceKind.in_person_evaluation, 700 + days_before, prescriber, day)


def facts(
    catalogue: Catalogue,
    product: str,
    *,
    state: str | None = "NY",
    state_source: str = "attested",
    at: datetime = ORDER_AT,
    in_person: bool = False,
    evidence: tuple[Evidence, ...] = (),
    covers_for: frozenset[int] = frozenset(),
    va: frozenset[int] = frozenset(),
) -> OrderFacts:
    found = catalogue.get(product)
    return OrderFacts(
        patient_id=PATIENT,
        prescriber_id=BOB,
        visit_id=VISIT,
        visit_in_person=in_person,
        product_id=product,
        drug_name=found.name if found else product,
        schedule=schedule_for(catalogue, product, state=state, on=at.date()),
        state=state,
        state_source=state_source,
        order_at=at,
        order_day=at.date(),
        evidence=evidence,
        catalogue_version=catalogue.version,
        covered_prescriber_ids=covers_for,
        prescriber_is_va=BOB in va,
        va_prescriber_ids=va,
    )


@dataclass(frozen=True)
class Row:
    name: str
    product: str
    allowed: bool
    rule: Rule
    schedule: Schedule | None = None
    state: str | None = "NY"
    at: datetime = ORDER_AT
    in_person: bool = False
    evidence: tuple[Evidence, ...] = ()
    policy: GatePolicy = STRICT
    jurisdiction: str = "federal"
    covers_for: frozenset[int] = frozenset()
    va: frozenset[int] = frozenset()


ROWS = [
    # Each federal schedule, by telehealth, nothing on file: refused.
    Row(
        "schedule II methylphenidate by telehealth",
        "methylphenidate-tablet",
        False,
        Rule.in_person_required,
        Schedule.II,
    ),
    Row(
        "schedule III buprenorphine-naloxone by telehealth",
        "buprenorphine-naloxone-sl-film",
        False,
        Rule.in_person_required,
        Schedule.III,
    ),
    Row(
        "schedule IV alprazolam by telehealth",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
    ),
    Row(
        "schedule V pregabalin by telehealth",
        "pregabalin-capsule",
        False,
        Rule.in_person_required,
        Schedule.V,
    ),
    Row("sertraline is not controlled", "sertraline-tablet", True, Rule.not_controlled),
    Row("bupropion is not controlled", "bupropion-xl-tablet", True, Rule.not_controlled),
    # Each schedule, with this prescriber's in-person visit on file: allowed.
    Row(
        "schedule II with own in-person visit",
        "methylphenidate-tablet",
        True,
        Rule.in_person_on_file,
        Schedule.II,
        evidence=(visit_by(BOB, 30),),
    ),
    Row(
        "schedule III with own attested evaluation",
        "buprenorphine-naloxone-sl-film",
        True,
        Rule.in_person_on_file,
        Schedule.III,
        evidence=(attested_by(BOB, 90),),
    ),
    Row(
        "schedule IV with own in-person visit",
        "alprazolam-tablet",
        True,
        Rule.in_person_on_file,
        Schedule.IV,
        evidence=(visit_by(BOB, 1),),
    ),
    Row(
        "schedule V with own evaluation years ago (no lookback)",
        "pregabalin-capsule",
        True,
        Rule.in_person_on_file,
        Schedule.V,
        evidence=(attested_by(BOB, 2000),),
    ),
    # Placed during an in-person visit.
    Row(
        "schedule II during an in-person visit",
        "methylphenidate-tablet",
        True,
        Rule.in_person_visit,
        Schedule.II,
        in_person=True,
    ),
    # Evidence that does not count.
    Row(
        "another prescriber's in-person visit does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
    ),
    Row(
        "another prescriber's attestation does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(attested_by(CHARLIE, 10),),
    ),
    Row(
        "an in-person visit dated after the order does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(BOB, -3),),
    ),
    Row(
        "an evaluation dated after the order does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(attested_by(BOB, -1),),
    ),
    Row(
        "a visit later the same day does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(BOB, 0, hours_before=-2),),
    ),
    Row(
        "an attested evaluation on the order's day counts",
        "alprazolam-tablet",
        True,
        Rule.in_person_on_file,
        Schedule.IV,
        evidence=(attested_by(BOB, 0),),
    ),
    # Lookback window.
    Row(
        "outside the lookback window",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(BOB, 400),),
        policy=GatePolicy(lookback_days=365),
    ),
    Row(
        "inside the lookback window",
        "alprazolam-tablet",
        True,
        Rule.in_person_on_file,
        Schedule.IV,
        evidence=(visit_by(BOB, 400), attested_by(BOB, 200)),
        policy=GatePolicy(lookback_days=365),
    ),
    Row(
        "exactly at the edge of the lookback window",
        "alprazolam-tablet",
        True,
        Rule.in_person_on_file,
        Schedule.IV,
        evidence=(attested_by(BOB, 365),),
        policy=GatePolicy(lookback_days=365),
    ),
    # State schedules: gabapentin.
    Row(
        "gabapentin in Kentucky is schedule V",
        "gabapentin-capsule",
        False,
        Rule.in_person_required,
        Schedule.V,
        state="KY",
        jurisdiction="KY",
    ),
    Row(
        "gabapentin in Ohio is not controlled",
        "gabapentin-capsule",
        True,
        Rule.not_controlled,
        state="OH",
    ),
    Row(
        "gabapentin in Michigan before 2024-05-31 is schedule V",
        "gabapentin-capsule",
        False,
        Rule.in_person_required,
        Schedule.V,
        state="MI",
        at=datetime(2024, 5, 30, 16, 0, tzinfo=UTC),
        jurisdiction="MI",
    ),
    Row(
        "gabapentin in Michigan from 2024-05-31 is not controlled",
        "gabapentin-capsule",
        True,
        Rule.not_controlled,
        state="MI",
        at=datetime(2024, 5, 31, 16, 0, tzinfo=UTC),
    ),
    Row(
        "gabapentin in Kentucky with own in-person visit",
        "gabapentin-capsule",
        True,
        Rule.in_person_on_file,
        Schedule.V,
        state="KY",
        evidence=(visit_by(BOB, 5),),
        jurisdiction="KY",
    ),
    # Fail closed.
    Row(
        "an unclassified product is treated as controlled",
        "butalbital-apap-caffeine-tablet",
        False,
        Rule.in_person_required,
    ),
    Row(
        "a product missing from the catalogue is treated as controlled",
        "not-a-real-drug",
        False,
        Rule.in_person_required,
    ),
    # Federal telemedicine flexibility.
    Row(
        "flexibility off: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        at=datetime(2026, 6, 1, 15, 0, tzinfo=UTC),
    ),
    Row(
        "flexibility on, on its last day: allowed",
        "alprazolam-tablet",
        True,
        Rule.federal_flexibility,
        Schedule.IV,
        at=datetime(2026, 12, 31, 15, 0, tzinfo=UTC),
        policy=GatePolicy(federal_flexibility=True),
    ),
    Row(
        "flexibility on, after 2026-12-31: void, refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        at=datetime(2027, 1, 1, 15, 0, tzinfo=UTC),
        policy=GatePolicy(federal_flexibility=True),
    ),
    # The covering-practitioner route (21 U.S.C. 829(e)(2)(C)): Bob covers for Charlie.
    Row(
        "covering for the evaluator, evaluation within 24 months: allowed",
        "alprazolam-tablet",
        True,
        Rule.covering_practitioner,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 700),),
        covers_for=frozenset({CHARLIE}),
        policy=GatePolicy(covering_practitioner=True),
    ),
    Row(
        "covering, but the evaluation is older than 24 months: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 800),),
        covers_for=frozenset({CHARLIE}),
        policy=GatePolicy(covering_practitioner=True),
    ),
    Row(
        "covering route switched off: another prescriber's visit does not count",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        covers_for=frozenset({CHARLIE}),
    ),
    Row(
        "covering route on, but not covering for the evaluator: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        policy=GatePolicy(covering_practitioner=True),
    ),
    Row(
        "covering, evaluation inside 24 months but outside the practice's lookback: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 400),),
        covers_for=frozenset({CHARLIE}),
        policy=GatePolicy(covering_practitioner=True, lookback_days=365),
    ),
    # The VA route (90 FR 6523): another VA practitioner's evaluation counts.
    Row(
        "VA route on, both are VA practitioners: allowed",
        "alprazolam-tablet",
        True,
        Rule.va_pathway,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        va=frozenset({BOB, CHARLIE}),
        policy=GatePolicy(va_pathway=True),
    ),
    Row(
        "VA route on, but the evaluator is not a VA practitioner: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        va=frozenset({BOB}),
        policy=GatePolicy(va_pathway=True),
    ),
    Row(
        "VA route on, but the prescriber is not a VA practitioner: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        va=frozenset({CHARLIE}),
        policy=GatePolicy(va_pathway=True),
    ),
    Row(
        "VA route switched off: refused",
        "alprazolam-tablet",
        False,
        Rule.in_person_required,
        Schedule.IV,
        evidence=(visit_by(CHARLIE, 10),),
        va=frozenset({BOB, CHARLIE}),
    ),
    Row(
        "buprenorphine route on, but not ordered for opioid use disorder: refused",
        "buprenorphine-naloxone-sl-film",
        False,
        Rule.in_person_required,
        Schedule.III,
        policy=GatePolicy(buprenorphine_oud_pathway=True),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_the_gate_decides_each_situation_as_the_rule_says(catalogue: Catalogue, row: Row):
    result = decide(
        facts(
            catalogue,
            row.product,
            state=row.state,
            at=row.at,
            in_person=row.in_person,
            evidence=row.evidence,
            covers_for=row.covers_for,
            va=row.va,
        ),
        row.policy,
    )
    assert (result.allowed, result.rule) == (row.allowed, row.rule), result.message
    assert result.controlled is (row.rule is not Rule.not_controlled)
    if row.schedule is not None:
        assert result.schedule is row.schedule
        assert result.jurisdiction == row.jurisdiction
    assert result.policy_version == row.policy.version
    assert result.catalogue_version == catalogue.version
    if not row.allowed:
        assert result.book_in_person_with == PATIENT


def test_the_refusal_names_the_drug_its_schedule_the_rule_and_the_way_forward(catalogue):
    result = decide(facts(catalogue, "alprazolam-tablet"), STRICT)
    assert not result.allowed
    assert "Alprazolam" in result.message
    assert "Schedule IV" in result.message
    assert "21 CFR 1308.14" in result.message
    assert "21 U.S.C. 829(e)" in result.message
    assert "in-person visit" in result.message
    assert result.book_in_person_with == PATIENT
    with pytest.raises(InPersonRequired) as refused:
        ensure_allowed(result)
    assert refused.value.code == "in_person_required"
    assert refused.value.book_in_person_with == PATIENT
    assert refused.value.extra["schedule"] == "IV"


def test_a_refusal_outside_the_lookback_says_the_evaluation_is_too_old(catalogue):
    result = decide(
        facts(catalogue, "alprazolam-tablet", evidence=(visit_by(BOB, 400),)),
        GatePolicy(lookback_days=365),
    )
    assert not result.allowed
    assert "365-day" in result.message


def test_an_unclassified_product_is_refused_as_controlled_and_says_so(catalogue):
    result = decide(facts(catalogue, "butalbital-apap-caffeine-tablet"), STRICT)
    assert result.controlled
    assert "treated as controlled" in result.message


def test_the_decision_says_when_the_home_state_stood_in_for_an_attested_location(catalogue):
    result = decide(
        facts(catalogue, "gabapentin-capsule", state="KY", state_source="home_state"), STRICT
    )
    assert not result.allowed
    assert any("home state" in note for note in result.notes)


def test_the_latest_qualifying_evaluation_is_the_evidence(catalogue):
    old, recent = attested_by(BOB, 300), visit_by(BOB, 20)
    result = decide(facts(catalogue, "alprazolam-tablet", evidence=(old, recent)), STRICT)
    assert result.evidence == recent
    detail = result.audit_detail(facts(catalogue, "alprazolam-tablet"))
    assert detail["decision"] == "allow"
    assert detail["evidence"] == {
        "kind": "in_person_visit",
        "id": recent.id,
        "on": recent.day.isoformat(),
    }
    assert detail["policy_version"] == STRICT.version
    assert detail["schedule"] == "IV"


def test_the_policy_comes_from_settings_and_its_version_names_every_setting():
    settings = Settings(in_person_lookback_days=365, federal_flexibility=True, secret_key="x" * 40)
    policy = GatePolicy.from_settings(settings)
    assert policy.lookback_days == 365
    assert "lookback=365d" in policy.version
    assert "flexibility=on<=2026-12-31" in policy.version
    assert "va=off" in policy.version
    assert policy.version != GatePolicy().version
    assert GatePolicy().version == replace(GatePolicy()).version
    assert policy.flexibility_in_force(date(2026, 12, 31))
    assert not policy.flexibility_in_force(date(2027, 1, 1))


def test_a_far_west_patient_zone_cannot_stretch_the_federal_flexibility(catalogue: Catalogue):
    # 2027-01-01 06:00 UTC is still 2026-12-31 in Honolulu, but 2027 in Washington.
    at = datetime(2027, 1, 1, 6, 0, tzinfo=UTC)
    honolulu_day = date(2026, 12, 31)
    order = facts(catalogue, "alprazolam-tablet", at=at)
    order = dataclasses.replace(order, order_day=honolulu_day)
    result = decide(order, GatePolicy(federal_flexibility=True))
    assert (result.allowed, result.rule) == (False, Rule.in_person_required)


BUP = GatePolicy(buprenorphine_oud_pathway=True)
BUP_ROWS = [
    # (name, facts changes, policy, allowed, words in the message)
    (
        "PDMP of the patient's state checked, 30 days: allowed",
        {"pdmp_state": "NY", "days_supply": 30},
        BUP,
        True,
        "30 of",
    ),
    ("no PDMP check recorded: refused", {"days_supply": 30}, BUP, False, "PDMP"),
    (
        "PDMP of another state: refused",
        {"pdmp_state": "NJ", "days_supply": 30},
        BUP,
        False,
        "check NY's PDMP",
    ),
    ("no days' supply given: refused", {"pdmp_state": "NY"}, BUP, False, "days' supply"),
    (
        "PDMP unavailable, 7 days: allowed",
        {"pdmp_unavailable": True, "days_supply": 7},
        BUP,
        True,
        "7-day",
    ),
    (
        "PDMP unavailable, 8 days: refused",
        {"pdmp_unavailable": True, "days_supply": 8},
        BUP,
        False,
        "7-day",
    ),
    (
        "six months already used: refused",
        {
            "pdmp_state": "NY",
            "days_supply": 30,
            "pathway_days_used": 170,
            "pathway_started": date(2024, 10, 1),
        },
        BUP,
        False,
        "Book an in-person visit",
    ),
    (
        "inside six months of supply: allowed",
        {
            "pdmp_state": "NY",
            "days_supply": 30,
            "pathway_days_used": 120,
            "pathway_started": date(2024, 10, 1),
        },
        BUP,
        True,
        "150 of",
    ),
    (
        "route switched off: refused",
        {"pdmp_state": "NY", "days_supply": 30},
        STRICT,
        False,
        "in person",
    ),
]


@pytest.mark.parametrize(
    ("name", "changes", "policy", "allowed", "words"), BUP_ROWS, ids=[r[0] for r in BUP_ROWS]
)
def test_the_buprenorphine_route_needs_its_pdmp_check_and_supply_limits(
    catalogue: Catalogue, name, changes, policy, allowed, words
):
    order = dataclasses.replace(
        facts(catalogue, "buprenorphine-naloxone-sl-film"), buprenorphine_oud=True, **changes
    )
    result = decide(order, policy)
    assert result.allowed is allowed, result.message
    assert result.rule is (Rule.buprenorphine_oud if allowed else Rule.in_person_required)
    assert words in result.message
