"""Domain: medication orders on a visit, through the in-person gate, onto the medication list.

Checks run in this order: the visit is the caller's and the patient has checked in; the
product is in the catalogue; the fields are valid; the federal refill limit for the
schedule; then the gate. Only then is the order created and the medication list updated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
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
from telehealth.visits.notes import ensure_visit_open_for_writing

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


@dataclass(frozen=True)
class OrderInput:
    medication_id: str
    dose: str
    route: str
    frequency: str
    quantity: str
    refills: int
    instructions: str
    days_supply: int | None = None
    indication: str | None = None
    pdmp_state: str | None = None
    pdmp_unavailable: bool = False


INDICATIONS = ("opioid_use_disorder",)
MAX_DAYS_SUPPLY = 365


def _optional_extras(data: dict[str, Any]) -> dict[str, Any]:
    """Days' supply, indication and the PDMP record (needed by the buprenorphine pathway)."""
    days = data.get("days_supply")
    if isinstance(days, str) and days.strip().isdigit():
        days = int(days.strip())
    if days in (None, ""):
        days = None
    elif not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS_SUPPLY:
        raise InvalidInput(
            f"Days' supply must be a whole number from 1 to {MAX_DAYS_SUPPLY}.",
            field="days_supply",
        )
    indication = data.get("indication") or None
    if indication is not None and indication not in INDICATIONS:
        raise InvalidInput(
            "indication must be opioid_use_disorder, or left out.", field="indication"
        )
    pdmp = data.get("pdmp")
    pdmp_state: str | None = None
    pdmp_unavailable = False
    if pdmp not in (None, {}):
        if not isinstance(pdmp, dict):
            raise InvalidInput(
                'pdmp must be {"state": "NY"} (checked) or {"unavailable": true}.', field="pdmp"
            )
        if pdmp.get("unavailable") is True:
            pdmp_unavailable = True
        else:
            state = str(pdmp.get("state") or "").strip().upper()
            if len(state) != 2 or not state.isalpha():
                raise InvalidInput(
                    "Say which state's PDMP you checked, as two letters (such as NY).",
                    field="pdmp",
                )
            pdmp_state = state
    return {
        "days_supply": days,
        "indication": indication,
        "pdmp_state": pdmp_state,
        "pdmp_unavailable": pdmp_unavailable,
    }


def _text(
    data: dict[str, Any], name: str, label: str, max_len: int, *, required: bool = True
) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidInput(f"{label} must be a number or text, not {value}.", field=name)
        value = str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{label} must be text.", field=name)
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"Enter the {label.lower()}.", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"{label} is too long (at most {max_len} characters).", field=name)
    return value


MAX_QUANTITY = 10_000


def parse_order(data: dict[str, Any]) -> OrderInput:
    """Validate an order's fields (shape only; the catalogue and the gate come after)."""
    medication_id = data.get("medication_id")
    if not isinstance(medication_id, str) or not medication_id.strip():
        raise InvalidInput("Choose a medication from the catalogue.", field="medication_id")
    route = _text(data, "route", "Route", 50).lower()
    if route not in ROUTES:
        raise InvalidInput(f"Route must be one of: {', '.join(ROUTES)}.", field="route")
    quantity = _text(data, "quantity", "Quantity", 50)
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
    refills = data.get("refills", 0)
    if isinstance(refills, str) and refills.strip().isdigit():
        refills = int(refills.strip())
    if refills in (None, ""):
        refills = 0
    if not isinstance(refills, int) or isinstance(refills, bool) or refills < 0:
        raise InvalidInput("Refills must be a whole number, 0 or more.", field="refills")
    if refills > SANITY_REFILLS:
        raise InvalidInput(
            f"At most {SANITY_REFILLS} refills can be ordered at once.", field="refills"
        )
    return OrderInput(
        medication_id=medication_id.strip(),
        dose=_text(data, "dose", "Dose", 100),
        route=route,
        frequency=_text(data, "frequency", "Frequency", 100),
        quantity=quantity,
        refills=refills,
        instructions=_text(data, "instructions", "Instructions", 2000, required=False),
        **_optional_extras(data),
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


async def place_order(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    data: dict[str, Any],
    now: datetime,
    policy: GatePolicy,
    catalogue: Catalogue,
) -> tuple[MedicationOrder, GateDecision]:
    """Order a medication on a visit; refused with 403 in_person_required by the gate."""
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber,), for_update=True)
    ensure_visit_open_for_writing(visit)
    ensure_visit_open_for_orders(visit, now)
    order_input = parse_order(data)
    product = get_product(catalogue, order_input.medication_id)
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
            indication=order_input.indication,
            days_supply=order_input.days_supply,
            pdmp_state=order_input.pdmp_state,
            pdmp_unavailable=order_input.pdmp_unavailable,
        ),
    )
    ensure_allowed(decision)
    ensure_refills_allowed(product, decision.schedule, order_input.refills)
    assert visit.id is not None
    order = MedicationOrder(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        prescriber_id=visit.prescriber_id,
        medication_id=product.id,
        medication_name=product.name,
        schedule=decision.schedule.value if decision.schedule else None,
        schedule_basis=decision.schedule_basis[:200],
        dose=order_input.dose,
        route=order_input.route,
        frequency=order_input.frequency,
        quantity=order_input.quantity,
        refills=order_input.refills,
        instructions=order_input.instructions,
        catalogue_version=catalogue.version,
        created_at=now,
        gate_rule=decision.rule.value,
        days_supply=order_input.days_supply,
        indication=order_input.indication,
        pdmp_state=order_input.pdmp_state,
        pdmp_checked_at=now if order_input.pdmp_state else None,
        pdmp_unavailable=order_input.pdmp_unavailable,
    )
    session.add(order)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "medication_order",
        order.id,
        patient_id=visit.patient_id,
        detail={"visit_id": visit.id, "gate_rule": decision.rule.value, "schedule": order.schedule},
    )
    await record_order_on_list(session, order=order, actor=actor, now=now)
    return order, decision


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
