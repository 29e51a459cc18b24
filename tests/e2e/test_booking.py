"""A scheduler books, moves and cancels visits on the week page; the patient sees the visit
at the right time in their own zone."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import expect
from sqlalchemy import update

from telehealth.auth.models import PatientProfile
from tests.builders import Cast, open_hours
from tests.e2e.pages import sign_in

MONDAY = datetime(2026, 10, 26, 12, tzinfo=UTC)  # 08:00 in New York


async def test_a_scheduler_books_on_the_week_page_and_the_patient_sees_it_in_their_own_zone(
    new_page, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00")
    async with sessionmaker() as session:
        # Alice lives in New York state but is staying on the west coast.
        await session.execute(
            update(PatientProfile)
            .where(PatientProfile.user_id == cast.alice.id)
            .values(timezone="America/Los_Angeles")
        )
        await session.commit()

    sam = await new_page()
    await sign_in(sam, "sam", lands_on="/scheduler")
    await sam.get_by_label("Prescriber", exact=True).select_option(str(cast.bob.id))
    await sam.get_by_label("Name or date of birth").fill("alice")
    await sam.get_by_role("button", name="Search").click()
    await sam.get_by_role("button", name="Alice Able").click()
    await sam.get_by_text("Booking for").wait_for()

    tuesday_10 = sam.locator("button.slot.free[data-start='2026-10-27T14:00:00+00:00']")
    await tuesday_10.wait_for()
    assert (await tuesday_10.inner_text()).strip() == ":00"  # on the 10 AM row
    assert await tuesday_10.get_attribute("aria-label") == "Free: Tue 27 Oct, 10:00 AM EDT"
    await tuesday_10.click()
    confirm = sam.locator("#confirm-text")
    assert "Tue 27 Oct, 7:00 AM PDT" in await confirm.inner_text()
    await sam.get_by_role("button", name="Book visit").click()
    await sam.get_by_text("Booked Alice Able for Tue 27 Oct, 10:00 AM EDT").wait_for()
    booked = sam.locator(".slot.booked").first
    await booked.wait_for()
    assert "Alice Able" in await booked.inner_text()
    await expect(tuesday_10).to_have_count(0)

    # Move it an hour later: a dialog asks first; Escape keeps the visit where it was.
    await sam.get_by_role("button", name="Move the visit of Alice Able").click()
    await sam.get_by_text("Moving Alice Able's visit").wait_for()
    await sam.wait_for_load_state("networkidle")  # the week is drawn again for the move
    eleven = sam.locator("button.slot.free[data-start='2026-10-27T15:00:00+00:00']")
    await eleven.click()
    dialog = sam.get_by_role("dialog", name="Move Alice Able's visit?")
    await dialog.wait_for()
    assert "to Tue 27 Oct, 11:00 AM EDT" in await dialog.inner_text()
    assert await sam.evaluate("document.activeElement.textContent") == "Go back"
    await sam.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    assert await sam.evaluate("document.activeElement.dataset.start") == "2026-10-27T15:00:00+00:00"
    await expect(sam.locator(".slot.booked")).to_have_count(1)
    assert await eleven.is_visible()  # still free: nothing moved
    await eleven.click()
    await dialog.get_by_role("button", name="Move visit").click()
    await sam.get_by_text("Moved Alice Able's visit to Tue 27 Oct, 11:00 AM EDT").wait_for()

    # Book a second one on Wednesday, then cancel it with a reason.
    await sam.locator("button.slot.free[data-start='2026-10-28T13:00:00+00:00']").click()
    await sam.get_by_role("button", name="Book visit").click()
    await sam.get_by_text("Booked Alice Able for Wed 28 Oct").wait_for()
    await sam.get_by_role("button", name="Cancel the visit of Alice Able at Wed 28 Oct").click()
    await sam.get_by_label("Reason for cancelling").fill("Patient asked to cancel")
    await sam.get_by_role("button", name="Cancel visit").click()
    cancel_dialog = sam.get_by_role("dialog", name="Cancel Alice Able's visit?")
    await cancel_dialog.get_by_role("button", name="Keep the visit").click()
    await expect(cancel_dialog).to_have_count(0)
    await expect(sam.locator(".slot.booked")).to_have_count(2)
    await sam.get_by_role("button", name="Cancel visit").click()
    await cancel_dialog.get_by_role("button", name="Cancel visit").click()
    await sam.get_by_text("Cancelled the visit of Alice Able").wait_for()
    await expect(sam.locator(".slot.booked")).to_have_count(1)
    assert sam.console_errors == []

    alice = await new_page()
    await sign_in(alice, "alice", lands_on="/patient")
    item = alice.locator(".visit-item")
    await expect(item).to_have_count(1)
    text = await item.inner_text()
    assert "Tue 27 Oct, 8:00 AM PDT" in text
    assert "Dr Bob Baker" in text
    join = alice.get_by_role("link", name="Join")
    assert (await join.get_attribute("href") or "").startswith("/visit/")
    assert "America/Los_Angeles" in await alice.locator("#zone-note").inner_text()
    assert alice.console_errors == []
