"""Domain: the gate's facts, gathered from the database for `gate.policy.decide`.

The visit, the jurisdiction, the schedule on the order's date, the in-person evaluations on
file and the supply already given by a pathway: queries only, no decision.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth.auth.coverage import covered_on
from telehealth.auth.models import PatientProfile, PrescriberProfile
from telehealth.visits.catalogue import Catalogue
from telehealth.visits.gate.policy import (
    Evidence,
    EvidenceKind,
    GatePolicy,
    OrderFacts,
    PathwayRequest,
    Rule,
    buprenorphine_for_oud,
    jurisdiction_of,
    present_in_person,
    schedule_for,
)
from telehealth.visits.models import (
    InPersonEvaluation,
    MedicationOrder,
    Modality,
    OrderStatus,
    Visit,
    VisitStatus,
)


async def patient_zone(session: AsyncSession, patient_id: int) -> tuple[ZoneInfo, str | None]:
    """The patient's time zone (for the calendar day of an order) and home state."""
    profile = await session.get(PatientProfile, patient_id)
    if profile is None:
        return ZoneInfo("UTC"), None
    try:
        zone = ZoneInfo(profile.timezone)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return zone, profile.state


async def buprenorphine_pathway_supply(
    session: AsyncSession, *, patient_id: int, zone: ZoneInfo
) -> tuple[int, date | None]:
    """Days' supply already ordered for this patient through the buprenorphine route, and the
    day the route was first used (the six months run from there)."""
    rows = (
        await session.execute(
            select(col(MedicationOrder.days_supply), col(MedicationOrder.created_at)).where(
                col(MedicationOrder.patient_id) == patient_id,
                col(MedicationOrder.gate_rule) == Rule.buprenorphine_oud.value,
                col(MedicationOrder.status).in_((OrderStatus.active, OrderStatus.completed)),
            )
        )
    ).all()
    used = sum(int(days or 0) for days, _ in rows)
    started = min((at.astimezone(zone).date() for _, at in rows), default=None)
    return used, started


async def va_practitioners(session: AsyncSession) -> frozenset[int]:
    rows = await session.execute(
        select(col(PrescriberProfile.user_id)).where(col(PrescriberProfile.va_practitioner))
    )
    return frozenset(int(r) for r in rows.scalars().all())


async def evidence_on_file(
    session: AsyncSession,
    *,
    patient_id: int,
    prescriber_ids: frozenset[int],
    before: datetime,
    zone: ZoneInfo,
) -> list[Evidence]:
    """In-person evaluations of this patient by these prescribers, at or before `before`."""
    visits = (
        (
            await session.execute(
                select(Visit).where(
                    col(Visit.patient_id) == patient_id,
                    col(Visit.prescriber_id).in_(prescriber_ids),
                    col(Visit.modality) == Modality.in_person,
                    col(Visit.status) == VisitStatus.finished,
                    col(Visit.start) <= before,
                )
            )
        )
        .scalars()
        .all()
    )
    evaluations = (
        (
            await session.execute(
                select(InPersonEvaluation).where(
                    col(InPersonEvaluation.patient_id) == patient_id,
                    col(InPersonEvaluation.prescriber_id).in_(prescriber_ids),
                )
            )
        )
        .scalars()
        .all()
    )
    found: list[Evidence] = []
    for v in visits:
        assert v.id is not None
        found.append(
            Evidence(
                EvidenceKind.in_person_visit,
                v.id,
                v.prescriber_id,
                v.start.astimezone(zone).date(),
                v.start,
            )
        )
    for e in evaluations:
        assert e.id is not None
        found.append(
            Evidence(EvidenceKind.in_person_evaluation, e.id, e.prescriber_id, e.evaluated_on)
        )
    return found


async def gather_facts(
    session: AsyncSession,
    *,
    patient_id: int,
    prescriber_id: int,
    visit: Visit,
    product_id: str,
    on: datetime,
    policy: GatePolicy,
    catalogue: Catalogue,
    request: PathwayRequest,
) -> OrderFacts:
    """Everything `decide` needs about this order; only what the policy can use is queried
    (no evidence for an uncontrolled product, no colleagues for routes switched off)."""
    zone, home_state = await patient_zone(session, patient_id)
    state, state_source = jurisdiction_of(visit.location_state, home_state)
    order_day = on.astimezone(zone).date()
    schedule = schedule_for(catalogue, product_id, state=state, on=order_day)
    product = catalogue.get(product_id)
    visit_in_person = present_in_person(
        visit, patient_id=patient_id, prescriber_id=prescriber_id, on=on
    )
    evidence: list[Evidence] = []
    covered: frozenset[int] = frozenset()
    is_va = False
    va_ids: frozenset[int] = frozenset()
    if schedule.controlled and not visit_in_person:
        # Whose evaluations may count: this prescriber's, and, where the practice switched
        # those routes on, the colleagues they cover for and the other VA practitioners.
        if policy.covering_practitioner:
            covered = await covered_on(session, covering_id=prescriber_id, at=on)
        if policy.va_pathway:
            va_ids = await va_practitioners(session)
            is_va = prescriber_id in va_ids
        evidence = await evidence_on_file(
            session,
            patient_id=patient_id,
            prescriber_ids=frozenset({prescriber_id})
            | covered
            | (va_ids if is_va else frozenset()),
            before=on,
            zone=zone,
        )
    assert visit.id is not None
    buprenorphine_oud = buprenorphine_for_oud(policy, product, request.indication)
    days_used, started = (
        await buprenorphine_pathway_supply(session, patient_id=patient_id, zone=zone)
        if buprenorphine_oud and schedule.controlled and not visit_in_person
        else (0, None)
    )
    return OrderFacts(
        patient_id=patient_id,
        prescriber_id=prescriber_id,
        visit_id=visit.id,
        visit_in_person=visit_in_person,
        product_id=product_id,
        drug_name=product.name if product else f"The medication {product_id!r}",
        schedule=schedule,
        state=state,
        state_source=state_source,
        order_at=on,
        order_day=order_day,
        evidence=evidence,
        catalogue_version=catalogue.version,
        covered_prescriber_ids=covered,
        prescriber_is_va=is_va,
        va_prescriber_ids=va_ids,
        buprenorphine_oud=buprenorphine_oud,
        days_supply=request.days_supply,
        pdmp_state=request.pdmp_state,
        pdmp_unavailable=request.pdmp_unavailable,
        pathway_days_used=days_used,
        pathway_started=started,
    )
