"""Domain: the gate's optional pathways and calendar arithmetic. Pure (used by `gate.policy`).

The buprenorphine route for opioid use disorder (90 FR 6504) and the calendar months the
covering-practitioner and buprenorphine windows are counted in.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telehealth.visits.gate.policy import OrderFacts

COVERING_MONTHS = 24
BUPRENORPHINE_MONTHS = 6
PDMP_UNAVAILABLE_DAYS = 7


def buprenorphine_route(facts: OrderFacts) -> tuple[bool, str]:
    """90 FR 6504: buprenorphine for opioid use disorder by telemedicine before an in-person
    evaluation, after a PDMP check of the state where the patient is, up to six calendar
    months of supply in all; seven days when the PDMP is unavailable."""
    cite = "(buprenorphine for opioid use disorder, 90 FR 6504)"
    if facts.days_supply is None:
        return False, f"give the days' supply of this order {cite}."
    if facts.pdmp_unavailable:
        if facts.days_supply <= PDMP_UNAVAILABLE_DAYS:
            return True, f"PDMP unavailable: at most a {PDMP_UNAVAILABLE_DAYS}-day supply {cite}."
        return False, (
            f"with the PDMP unavailable, at most a {PDMP_UNAVAILABLE_DAYS}-day supply may be "
            f"prescribed before an in-person evaluation {cite}. Shorten it, or check the PDMP."
        )
    where = facts.state or "the patient's state"
    if facts.pdmp_state is None:
        return False, (
            f"check the prescription drug monitoring program (PDMP) of {where} and record it "
            f"with the order before prescribing {cite}."
        )
    if facts.state and facts.pdmp_state != facts.state:
        return False, (
            f"the PDMP recorded is {facts.pdmp_state}'s, but the patient is in {facts.state}: "
            f"check {facts.state}'s PDMP {cite}."
        )
    start = facts.pathway_started or facts.order_day
    allowance = (months_after(start, BUPRENORPHINE_MONTHS) - start).days
    total = facts.pathway_days_used + facts.days_supply
    if total > allowance:
        left = max(0, allowance - facts.pathway_days_used)
        return False, (
            f"only {left} of the {allowance} days' supply allowed before an in-person "
            f"evaluation are left (six calendar months from {start.isoformat()}) {cite}. "
            "Book an in-person visit."
        )
    return True, f"PDMP of {facts.pdmp_state} checked; {total} of {allowance} days used {cite}."


def months_after(day: date, months: int) -> date:
    return months_before(day, -months)


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (clamped to the month's end)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover - day 28 exists in every month
