"""The prescriber's way forward from an in-person refusal, taken from the call page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.builders import Cast, make_visit, open_hours
from tests.e2e.pages import sign_in
from tests.e2e.test_orders_page import choose_medication, place_order

pytestmark = pytest.mark.e2e

NOW = datetime(2030, 3, 5, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


async def test_the_refusal_opens_an_in_person_booking_in_a_new_tab_and_the_call_stays(
    new_page, sessionmaker, cast: Cast, clock
):
    clock.set(NOW)
    await open_hours(sessionmaker, cast.bob, start="09:00", end="17:00")
    visit_id = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        NOW - timedelta(minutes=5),
        status="waiting",
        location_state="NY",
    )
    page = await new_page()
    call_url = f"/visits/{visit_id}/call"
    await sign_in(page, "bob", call_url)
    await page.locator("[data-record-panel][data-can-write='true']").wait_for()

    await choose_medication(page, "alpraz", "Alprazolam tablet")
    await page.get_by_label("Dose").fill("0.25 mg")
    await page.get_by_label("Frequency").fill("twice daily as needed")
    await page.get_by_label("Quantity").fill("20")
    await place_order(page)
    book = page.get_by_role("link", name="Book an in-person visit (opens in a new tab)")
    async with page.context.expect_page() as opened:
        await book.click()
    tab = await opened.value
    await tab.wait_for_load_state()
    assert page.url.endswith(call_url)  # the call never navigated away
    assert "/visits/new?" in tab.url
    await tab.get_by_role("heading", name="Book a visit with Alice Able").wait_for()
    assert await tab.get_by_label("Kind of visit").input_value() == "in_person"

    wednesday_10 = tab.get_by_role("button", name="Book Wed 6 Mar, 10:00 AM EST")
    await wednesday_10.click()
    dialog = tab.get_by_role("dialog", name="Book this visit?")
    assert "in person, for Alice Able on Wed 6 Mar, 10:00 AM EST" in await dialog.inner_text()
    await dialog.get_by_role("button", name="Book visit").click()
    await tab.get_by_text("Booked Alice Able for Wed 6 Mar, 10:00 AM EST (in person)").wait_for()
    assert await wednesday_10.count() == 0  # the time is taken now
    assert page.url.endswith(call_url)


async def test_past_visits_stay_reachable_and_take_addenda(
    new_page, client, sessionmaker, cast: Cast, clock
):
    clock.set(NOW)
    signed = await make_visit(
        sessionmaker, cast.alice, cast.bob, NOW - timedelta(days=9), status="finished"
    )
    unsigned = await make_visit(
        sessionmaker, cast.dana, cast.bob, NOW - timedelta(days=20), status="finished"
    )
    await client.post("/api/session", json={"username": "bob", "password": cast.bob.password})
    await client.put(f"/api/visits/{signed}/note", json={"plan": "Fine.", "version": 0})
    assert (await client.post(f"/api/visits/{signed}/note/sign")).status == 200

    page = await new_page()
    await sign_in(page, "bob", "/prescriber")
    await page.get_by_role("link", name="Past visits").click()
    await page.wait_for_url("**/prescriber/visits")
    rows = page.locator("tbody tr")
    assert "Dana" in await rows.nth(0).inner_text()  # the unsigned note first, though older
    assert "Not signed" in await rows.nth(0).inner_text()
    sign_link = rows.nth(0).get_by_role("link", name="Sign the note")
    assert await sign_link.get_attribute("href") == f"/visits/{unsigned}/record"
    assert "Alice Able" in await rows.nth(1).inner_text()
    await rows.nth(1).get_by_role("link", name="Add an addendum").click()
    await page.wait_for_url(f"**/visits/{signed}/record")
    await page.get_by_label("New addendum").fill("Called the pharmacy: dose confirmed.")
    await page.get_by_role("button", name="Add signed addendum").click()
    await page.get_by_text("Called the pharmacy: dose confirmed.").wait_for()
