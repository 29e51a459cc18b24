"""A visit someone worked in is finished, not called off: an order, a draft note or a call
that started keeps it from being cancelled or marked a no-show; a checked-in visit with
nothing written in it can still be cancelled."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.builders import Cast, alice_in_a_call_with_bob, as_user, error_of, make_visit
from tests.integration.test_orders import SERTRALINE


async def checked_in_visit(sessionmaker: Any, cast: Cast, clock: Any) -> int:
    """Alice checked in five minutes ago for a visit that started then."""
    return await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=5),
        status="waiting",
        location_state="NY",
    )


# ---------------------------------------------------------------- calling off a visit


async def test_a_checked_in_visit_with_an_order_cannot_be_cancelled_or_marked_no_show(
    sam, cast, clock, sessionmaker, new_client
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    bob = await as_user(new_client, cast.bob)
    placed = await bob.post(f"/api/visits/{visit_id}/orders", json=SERTRALINE)
    assert placed.status == 201, await placed.text()

    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    error = await error_of(cancelled, 409)
    assert error["code"] == "visit_has_records"
    assert "finish it instead" in error["message"]
    noshow = await bob.post(f"/api/visits/{visit_id}/noshow")
    assert (await error_of(noshow, 409))["code"] == "visit_has_records"

    seen = await (await sam.get(f"/api/visits/{visit_id}")).json()
    assert seen["status"] == "waiting"
    assert seen["can"]["cancel"] is False
    assert seen["can"]["noshow"] is False
    orders = await (await bob.get(f"/api/visits/{visit_id}/orders")).json()
    assert [o["status"] for o in orders["orders"]] == ["active"]


async def test_a_visit_with_a_draft_note_stays_open_so_the_note_can_be_signed(
    sam, cast, clock, sessionmaker, new_client
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    bob = await as_user(new_client, cast.bob)
    saved = await bob.put(
        f"/api/visits/{visit_id}/note",
        json={"subjective": "Sleeping better.", "plan": "Continue.", "version": 0},
    )
    assert saved.status == 200, await saved.text()

    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    assert (await error_of(cancelled, 409))["code"] == "visit_has_records"
    noshow = await sam.post(f"/api/visits/{visit_id}/noshow")
    assert (await error_of(noshow, 409))["code"] == "visit_has_records"

    signed = await bob.post(f"/api/visits/{visit_id}/note/sign", json={"version": 1})
    assert signed.status == 200, await signed.text()


async def test_a_visit_whose_call_has_started_cannot_be_cancelled_or_marked_no_show(
    sam, cast, clock, sessionmaker
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    cancelled = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Left early"})
    assert "finish the visit" in (await error_of(cancelled, 409))["message"]
    noshow = await sam.post(f"/api/visits/{visit_id}/noshow")
    assert "finish the visit" in (await error_of(noshow, 409))["message"]


async def test_a_checked_in_visit_with_nothing_written_can_still_be_cancelled(
    sam, cast, clock, sessionmaker
):
    visit_id = await checked_in_visit(sessionmaker, cast, clock)
    seen = await (await sam.get(f"/api/visits/{visit_id}")).json()
    assert seen["can"]["cancel"] is True
    response = await sam.post(f"/api/visits/{visit_id}/cancel", json={"reason": "Patient left"})
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "cancelled"
