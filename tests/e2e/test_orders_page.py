"""The prescriber orders from the visit record page in a real browser."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import expect

from tests.builders import Cast, make_visit
from tests.e2e.pages import sign_in

SAVED = re.compile(r"^Saved ")


async def place_order(page) -> str:
    """Place the order typed in the form, through its review step; returns what it showed."""
    await page.get_by_role("button", name="Place order").click()
    review = page.get_by_role("dialog", name="Review the order")
    await review.wait_for()
    shown: str = await review.inner_text()
    await review.get_by_role("button", name="Confirm and place order").click()
    return shown


async def choose_medication(page, typed: str, option: str) -> None:
    await page.get_by_role("combobox", name="Medication").fill(typed)
    await page.get_by_role("option", name=option).first.click()


async def test_a_refused_alprazolam_order_keeps_what_was_typed_and_sertraline_is_listed(
    new_page, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    # Bob's laptop is set to Tokyo time; his profile says New York, and so do the times shown.
    page = await new_page(timezone_id="Asia/Tokyo")
    await sign_in(page, "bob", f"/visits/{visit_id}/record")
    panel = page.locator("[data-record-panel]")
    await panel.get_by_text("No current medications.").wait_for()

    await choose_medication(page, "alpraz", "Alprazolam tablet")
    await page.get_by_label("Dose").fill("0.25 mg")
    await page.get_by_label("Frequency").fill("twice daily as needed")
    await page.get_by_label("Quantity").fill("20")
    await page.get_by_label("Instructions for the patient").fill("Only for panic attacks.")
    await page.get_by_label("Refills").fill("1")
    await page.get_by_role("button", name="Place order").click()
    review = page.get_by_role("dialog", name="Review the order")
    shown = await review.inner_text()
    for part in (
        "Alprazolam tablet",
        "Schedule IV (federal)",
        "0.25 mg",
        "twice daily as needed",
        "Quantity\n20",
        "Refills\n1",
        "Only for panic attacks.",
    ):
        assert part in shown, (part, shown)
    await review.get_by_role("button", name="Change it").click()  # nothing is placed
    await expect(review).to_have_count(0)
    await page.get_by_label("Refills").fill("0")
    assert "Refills\nNone" in await place_order(page)

    refusal = panel.locator("[data-order-refusal]")
    await refusal.wait_for()
    text = await refusal.inner_text()
    assert "Alprazolam" in text
    assert "Schedule IV" in text
    assert "in person" in text
    book = refusal.get_by_role("link", name="Book an in-person visit")
    assert f"patient_id={cast.alice.id}" in (await book.get_attribute("href") or "")
    # Nothing typed is lost.
    assert (await page.get_by_role("combobox", name="Medication").input_value()).startswith(
        "Alprazolam tablet"
    )
    assert await page.get_by_label("Dose").input_value() == "0.25 mg"
    assert await page.get_by_label("Frequency").input_value() == "twice daily as needed"
    assert await page.get_by_label("Quantity").input_value() == "20"
    assert await page.get_by_label("Instructions for the patient").input_value() == (
        "Only for panic attacks."
    )

    await choose_medication(page, "sertra", "Sertraline")
    # Another drug: the alprazolam dose, frequency and refusal do not carry over.
    assert await page.get_by_label("Dose").input_value() == ""
    assert await page.get_by_label("Frequency").input_value() == ""
    assert await refusal.is_hidden()
    await page.get_by_label("Dose").fill("50 mg")
    await page.get_by_label("Frequency").fill("once daily")
    await page.get_by_label("Quantity").fill("30")
    await place_order(page)
    await panel.locator("[data-order-success]").wait_for()
    assert await refusal.is_hidden()
    current = panel.locator("[data-med-list]")
    await current.get_by_text("Sertraline tablet (Zoloft)", exact=True).wait_for()
    assert "50 mg" in await current.inner_text()
    assert "Alprazolam" not in await current.inner_text()
    ordered = panel.locator("[data-order-list] li", has_text="Sertraline")
    await ordered.wait_for()
    shown = await ordered.inner_text()
    assert re.search(r"\bE[SD]T\b", shown), shown
    assert "GMT+9" not in shown
    # The way forward without leaving the page: record an earlier in-person evaluation.
    await panel.locator("summary", has_text="Record an earlier in-person evaluation").click()
    await page.get_by_label("Date of the evaluation").fill(
        (clock.now - timedelta(days=30)).date().isoformat()
    )
    await page.get_by_label("Where it took place").fill("Main Street clinic")
    await page.get_by_label("Attestation").fill("I evaluated the patient in person.")
    await page.get_by_role("button", name="Record evaluation").click()
    await panel.locator("[data-evaluation-success]").wait_for()
    await choose_medication(page, "alpraz", "Alprazolam tablet")
    await page.get_by_label("Dose").fill("0.25 mg")
    await page.get_by_label("Frequency").fill("twice daily as needed")
    await page.get_by_label("Quantity").fill("20")
    await place_order(page)
    await current.get_by_text("Alprazolam tablet (Xanax)", exact=True).wait_for()

    # The refused order's 403 is logged by the browser; anything else is a bug.
    assert [e for e in page.console_errors if "403" not in e] == []


async def test_two_tabs_editing_one_note_show_both_texts_and_lose_nothing(
    new_page, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    first, second = await new_page(), await new_page()
    for tab in (first, second):
        await sign_in(tab, "bob", f"/visits/{visit_id}/record")
        await tab.locator("[data-note-status]").wait_for(state="attached")

    await first.get_by_label("Subjective").fill("Written in the first tab.")
    await first.locator("[data-note-status]", has_text=SAVED).wait_for()
    # The second tab never saw that save: its autosave is refused, and shows both texts.
    await second.get_by_label("Subjective").fill("Written in the second tab.")
    conflict = second.locator("[data-note-conflict]")
    await conflict.wait_for()
    assert "Written in the first tab." in await conflict.inner_text()
    assert await second.get_by_label("Subjective").input_value() == "Written in the second tab."

    await conflict.get_by_role("button", name="Keep my text").click()
    await second.locator("[data-note-status]", has_text=SAVED).wait_for()
    await second.get_by_role("button", name="Sign and lock note").click()
    sign_dialog = second.get_by_role("dialog", name="Sign and lock this note?")
    await sign_dialog.get_by_role("button", name="Go back").click()
    await expect(sign_dialog).to_have_count(0)
    assert await second.get_by_label("Subjective").get_attribute("readonly") is None
    await second.get_by_role("button", name="Sign and lock note").click()
    await sign_dialog.get_by_role("button", name="Sign note").click()
    await second.locator("[data-note-signed]").wait_for()
    assert await second.get_by_label("Subjective").get_attribute("readonly") is not None
    assert await second.get_by_label("New addendum").is_visible()
