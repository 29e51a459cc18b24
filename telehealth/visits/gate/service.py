"""Domain: THE controlled-substance gate. Every path that creates an order (page, API,
import, CLI) calls `check_controlled_order`: facts gathered (`gate.facts`), the policy
applied (`gate.policy.decide`), and the decision audited, allow and deny alike.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.visits.catalogue import Catalogue
from telehealth.visits.gate.facts import gather_facts
from telehealth.visits.gate.policy import GateDecision, GatePolicy, PathwayRequest, decide
from telehealth.visits.models import Visit


async def check_controlled_order(
    session: AsyncSession,
    *,
    patient_id: int,
    prescriber_id: int,
    visit: Visit,
    product_id: str,
    on: datetime,
    policy: GatePolicy,
    catalogue: Catalogue,
    request: PathwayRequest | None = None,
) -> GateDecision:
    """THE in-person gate: decide whether this order may be placed, and audit the decision.

    Does not raise on refusal; call `ensure_allowed(decision)` (as `place_order` does).
    """
    assert visit.id is not None
    facts = await gather_facts(
        session,
        patient_id=patient_id,
        prescriber_id=prescriber_id,
        visit=visit,
        product_id=product_id,
        on=on,
        policy=policy,
        catalogue=catalogue,
        request=request or PathwayRequest(),
    )
    result = decide(facts, policy)
    audit.record(
        session,
        Action.create if result.allowed else Action.access_denied,
        "gate_decision",
        visit.id,
        patient_id=patient_id,
        outcome=Outcome.success if result.allowed else Outcome.failure,
        detail=result.audit_detail(facts),
        # A decision is recorded even if the order it was for is later rolled back.
        durable=True,
    )
    return result
