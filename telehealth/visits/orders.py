"""Domain: medication orders on a visit, through the in-person gate, onto the medication list.

Checks run in this order: the visit is the caller's and the patient has checked in; the
product is in the catalogue; the fields are valid; the federal refill limit for the
schedule; then the gate. Only then is the order created and the medication list updated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.errors import Conflict, InvalidInput
from telehealth.visits.access import get_visit_for
from telehealth.visits.catalogue import Catalogue, Product, Schedule
from telehealth.visits.gate.policy import GateDecision, GatePolicy, PathwayRequest, ensure_allowed
from telehealth.visits.gate.service import check_controlled_order
from telehealth.visits.medlist import record_order_on_list
from telehealth.visits.models import MedicationOrder, Visit, VisitStatus
from telehealth.visits.notes import can_write_notes, ensure_visit_open_for_writing

ROUTES = (
    "oral",
    "sublingual",
    "buccal",
    "transdermal",
    "topical",
    "intranasal",
    "inhaled",
    "intramuscular",
    "subcutaneous",
    "intravenous",
    "rectal",
)
# Federal limits (21 CFR 1306.12 and 1306.22): no refills for II; III and IV at most five
# within six months of issue; V as the prescriber authorises.
MAX_REFILLS: dict[Schedule | None, int | None] = {
    Schedule.II: 0,
    Schedule.III: 5,
    Schedule.IV: 5,
    Schedule.V: None,
    None: None,
}
# Beyond a year of monthly refills an order is almost certainly a typing mistake.
SANITY_REFILLS = 11
_QUANTITY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z][A-Za-z ]{0,30})?\s*$")


CHOOSE_MEDICATION = "Choose a medication from the catalogue."
REFILLS_MESSAGE = "Refills must be a whole number, 0 or more."
INDICATIONS = ("opioid_use_disorder",)
INDICATION_MESSAGE = "indication must be opioid_use_disorder, or left out."
MAX_DAYS_SUPPLY = 365
DAYS_SUPPLY_MESSAGE = f"Days' supply must be a whole number from 1 to {MAX_DAYS_SUPPLY}."
PDMP_MESSAGE = 'pdmp must be {"state": "NY"} (checked) or {"unavailable": true}.'
MAX_QUANTITY = 10_000


@dataclass(frozen=True)
class OrderInput:
    """An order as the prescriber wrote it. `days_supply`, `indication` and the PDMP record
    are what the buprenorphine pathway needs; `pdmp_state` is the state whose PDMP was
    checked (None: no check recorded)."""

    medication_id: str
    dose: str
    route: str
    frequency: str
    quantity: str
    refills: int = 0
    instructions: str = ""
    days_supply: int | None = None
    indication: str | None = None
    pdmp_state: str | None = None
    pdmp_unavailable: bool = False


def _text(value: str, name: str, max_len: int, *, required: bool = True) -> str:
    label = name.capitalize()
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"Enter the {name}.", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{label} is too long (at most {max_len} characters).", field=name)
    return value


def _quantity(value: str) -> str:
    quantity = _text(value, "quantity", 50)
    match = _QUANTITY.match(quantity)
    amount: Decimal | None = None
    if match:
        try:
            amount = Decimal(match.group(1))
        except InvalidOperation:  # pragma: no cover - the pattern only admits numbers
            amount = None
    if amount is None or amount <= 0:
        raise InvalidInput(
            "Quantity must be a number greater than zero, such as 30 or 30 tablets.",
            field="quantity",
        )
    if amount > MAX_QUANTITY:
        raise InvalidInput(
            f"Quantity must be at most {MAX_QUANTITY:,}: check the number.", field="quantity"
        )
    return quantity


def _pathway_fields(order: OrderInput) -> dict[str, Any]:
    """Days' supply, indication and the PDMP record (needed by the buprenorphine pathway)."""
    days = order.days_supply
    if days is not None and not 1 <= days <= MAX_DAYS_SUPPLY:
        raise InvalidInput(DAYS_SUPPLY_MESSAGE, field="days_supply")
    if order.indication is not None and order.indication not in INDICATIONS:
        raise InvalidInput(INDICATION_MESSAGE, field="indication")
    state = None if order.pdmp_state is None else order.pdmp_state.strip().upper()
    if not order.pdmp_unavailable and state is not None and not _two_letters(state):
        raise InvalidInput(
            "Say which state's PDMP you checked, as two letters (such as NY).", field="pdmp"
        )
    return {
        "pdmp_state": None if order.pdmp_unavailable else state,
        "pdmp_unavailable": order.pdmp_unavailable,
    }


def _two_letters(state: str) -> bool:
    return len(state) == 2 and state.isalpha()


def check_order(order: OrderInput) -> OrderInput:
    """The order's fields checked and tidied (the catalogue and the gate come after), or
    InvalidInput naming the first field to fix."""
    medication_id = order.medication_id.strip()
    if not medication_id:
        raise InvalidInput(CHOOSE_MEDICATION, field="medication_id")
    route = _text(order.route, "route", 50).lower()
    if route not in ROUTES:
        raise InvalidInput(f"Route must be one of: {', '.join(ROUTES)}.", field="route")
    quantity = _quantity(order.quantity)
    if order.refills < 0:
        raise InvalidInput(REFILLS_MESSAGE, field="refills")
    if order.refills > SANITY_REFILLS:
        raise InvalidInput(
            f"At most {SANITY_REFILLS} refills can be ordered at once.", field="refills"
        )
    return replace(
        order,
        medication_id=medication_id,
        dose=_text(order.dose, "dose", 100),
        route=route,
        frequency=_text(order.frequency, "frequency", 100),
        quantity=quantity,
        instructions=_text(order.instructions, "instructions", 2000, required=False),
        **_pathway_fields(order),
    )


def ensure_refills_allowed(product: Product, schedule: Schedule | None, refills: int) -> None:
    limit = MAX_REFILLS.get(schedule)
    if limit is None or refills <= limit:
        return
    assert schedule is not None
    if limit == 0:
        message = (
            f"{product.name} is Schedule II: federal law allows no refills "
            "(21 CFR 1306.12). Set refills to 0 and issue a new order when needed."
        )
    else:
        message = (
            f"{product.name} is Schedule {schedule.value}: federal law allows at most "
            f"{limit} refills within six months of issue (21 CFR 1306.22)."
        )
    raise InvalidInput(
        message,
        code="refills_not_allowed",
        field="refills",
        max_refills=limit,
        schedule=schedule.value,
    )


def get_product(catalogue: Catalogue, medication_id: str) -> Product:
    product = catalogue.get(medication_id)
    if product is None:
        raise InvalidInput(
            "That medication is not in the catalogue, so it cannot be ordered. Search the "
            "catalogue and choose one of its entries.",
            code="unknown_medication",
            field="medication_id",
        )
    return product


ORDER_GRACE = timedelta(hours=24)


def ensure_visit_open_for_orders(visit: Visit, now: datetime) -> None:
    """Orders belong to the encounter: while it runs, and for a day after it ends (to finish
    the paperwork). An old visit cannot be reopened to order on: its attested location and
    in-person presence are no longer true."""
    if visit.status is not VisitStatus.finished:
        return
    ended = visit.ended_at or visit.end
    if now - ended > ORDER_GRACE:
        raise Conflict(
            "This visit ended more than 24 hours ago. Orders are placed during a visit or "
            "the day it ends: book a follow-up to order now.",
            code="visit_closed",
        )


@dataclass(frozen=True)
class RecordFlags:
    """What the visit record panel offers its reader (the services check each again)."""

    can_write: bool
    can_sign: bool
    can_order: bool


def record_flags(actor: Actor, visit: Visit) -> RecordFlags:
    """The visit's own prescriber writes, signs and orders once the patient has checked in."""
    writable = can_write_notes(actor, visit)
    return RecordFlags(can_write=writable, can_sign=writable, can_order=writable)


async def place_order(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    order: OrderInput,
    now: datetime,
    policy: GatePolicy,
    catalogue: Catalogue,
) -> tuple[MedicationOrder, GateDecision]:
    """Order a medication on a visit; refused with 403 in_person_required by the gate."""
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber,), for_update=True)
    ensure_visit_open_for_writing(visit)
    ensure_visit_open_for_orders(visit, now)
    checked = check_order(order)
    product = get_product(catalogue, checked.medication_id)
    decision = await check_controlled_order(
        session,
        patient_id=visit.patient_id,
        prescriber_id=visit.prescriber_id,
        visit=visit,
        product_id=product.id,
        on=now,
        policy=policy,
        catalogue=catalogue,
        request=PathwayRequest(
            indication=checked.indication,
            days_supply=checked.days_supply,
            pdmp_state=checked.pdmp_state,
            pdmp_unavailable=checked.pdmp_unavailable,
        ),
    )
    ensure_allowed(decision)
    ensure_refills_allowed(product, decision.schedule, checked.refills)
    assert visit.id is not None
    placed = MedicationOrder(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        prescriber_id=visit.prescriber_id,
        medication_id=product.id,
        medication_name=product.name,
        schedule=decision.schedule.value if decision.schedule else None,
        schedule_basis=decision.schedule_basis[:200],
        dose=checked.dose,
        route=checked.route,
        frequency=checked.frequency,
        quantity=checked.quantity,
        refills=checked.refills,
        instructions=checked.instructions,
        catalogue_version=catalogue.version,
        created_at=now,
        gate_rule=decision.rule.value,
        days_supply=checked.days_supply,
        indication=checked.indication,
        pdmp_state=checked.pdmp_state,
        pdmp_checked_at=now if checked.pdmp_state else None,
        pdmp_unavailable=checked.pdmp_unavailable,
    )
    session.add(placed)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "medication_order",
        placed.id,
        patient_id=visit.patient_id,
        detail={
            "visit_id": visit.id,
            "gate_rule": decision.rule.value,
            "schedule": placed.schedule,
        },
    )
    await record_order_on_list(session, order=placed, actor=actor, now=now)
    return placed, decision


async def list_orders(
    session: AsyncSession, *, actor: Actor, visit_id: int
) -> tuple[Visit, list[MedicationOrder]]:
    """The visit's orders, for its prescriber."""
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber,))
    orders = (
        (
            await session.execute(
                select(MedicationOrder)
                .where(col(MedicationOrder.visit_id) == visit_id)
                .order_by(col(MedicationOrder.created_at), col(MedicationOrder.id))
            )
        )
        .scalars()
        .all()
    )
    audit.record(
        session,
        Action.read,
        "medication_order",
        None,
        patient_id=visit.patient_id,
        detail={"visit_id": visit_id, "count": len(orders)},
    )
    return visit, list(orders)
