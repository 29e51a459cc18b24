"""Buprenorphine for opioid use disorder by video, from the order form (route switched on)."""

from __future__ import annotations

import pytest

from tests.builders import Cast, make_visit
from tests.e2e.pages import sign_in
from tests.e2e.test_orders_page import choose_medication, place_order


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"buprenorphine_oud_pathway": True})


async def test_the_pdmp_check_recorded_on_the_form_lets_the_order_through(
    new_page, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    page = await new_page()
    await sign_in(page, "bob", f"/visits/{visit_id}/record")
    panel = page.locator("[data-record-panel]")
    await panel.get_by_text("No current medications.").wait_for()

    await choose_medication(page, "bupren", "Buprenorphine and naloxone")
    await page.get_by_label("Dose").fill("8 mg/2 mg")
    await page.get_by_label("Route").select_option("sublingual")
    await page.get_by_label("Frequency").fill("once daily")
    await page.get_by_label("Quantity").fill("14")
    await page.get_by_label("Days' supply").fill("14")
    await page.get_by_text("Buprenorphine for opioid use disorder").click()
    await page.get_by_label("Prescribed for opioid use disorder").check()
    await place_order(page)
    refusal = panel.locator("[data-order-refusal]")
    await refusal.wait_for()
    assert "PDMP" in await refusal.inner_text()

    await page.get_by_label("I checked the PDMP of").check()
    assert await page.get_by_label("PDMP state").input_value() == "NY"
    await place_order(page)
    await panel.locator("[data-order-success]").wait_for()
    assert page.console_errors == [] or all("Failed to load" in e for e in page.console_errors)
