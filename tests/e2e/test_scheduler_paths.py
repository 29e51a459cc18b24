"""The scheduler never loses a visit's link: it is on the visit with a copy button, the
invitation can be sent again, and a move shows the new link at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.builders import Cast, book_telehealth
from tests.e2e.pages import sign_in
from tests.e2e.test_booking import MONDAY

pytestmark = pytest.mark.e2e


async def test_the_visit_shows_its_current_link_sends_it_again_and_a_move_shows_the_new_one(
    new_page, client, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    start = MONDAY + timedelta(days=1, hours=2)  # Tuesday 10:00 in New York
    booked = await book_telehealth(client, sessionmaker, cast, start)
    sam = await new_page(permissions=["clipboard-read", "clipboard-write"])
    await sign_in(sam, "sam", lands_on="/scheduler")
    await sam.get_by_label("Prescriber", exact=True).select_option(str(cast.bob.id))
    block = sam.locator(f".slot.booked[data-visit-id='{booked['id']}']")
    link = block.get_by_role("textbox", name="Join link")
    await expect(link).to_have_value(booked["join_url"])
    await sam.wait_for_load_state("networkidle")  # the week has settled

    await block.get_by_role("button", name="Copy the join link of Alice Able's visit").click()
    await block.get_by_text("Copied.").wait_for()
    assert await sam.evaluate("navigator.clipboard.readText()") == booked["join_url"]

    await block.get_by_role(
        "button", name="Send the invitation for the visit of Alice Able"
    ).click()
    await sam.get_by_text("was sent again to the patient's email").wait_for()

    await block.get_by_role("button", name="Move the visit of Alice Able").click()
    await sam.locator("button.slot.free[data-start='2026-10-27T15:00:00+00:00']").click()
    await sam.get_by_role("dialog").get_by_role("button", name="Move visit").click()
    new_link = sam.locator("#status a")
    await new_link.wait_for()
    new_url = await new_link.inner_text()
    assert "/join/" in new_url and new_url != booked["join_url"]
    await expect(block.get_by_role("textbox", name="Join link")).to_have_value(new_url)
    assert [e for e in sam.console_errors if "Failed to load resource" not in e] == []


async def test_a_deep_link_opens_the_week_with_its_patient_prescriber_and_modality_chosen(
    new_page, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    sam = await new_page()
    await sign_in(sam, "sam", lands_on="/scheduler")
    query = f"patient_id={cast.alice.id}&prescriber_id={cast.charlie.id}&modality=in_person"
    await sam.goto(f"/scheduler?{query}")
    chosen = sam.locator("#patient-chosen")
    await chosen.get_by_text("Alice Able").wait_for()
    assert await sam.get_by_label("Prescriber", exact=True).input_value() == str(cast.charlie.id)
    assert await sam.locator("#modality").input_value() == "in_person"

    # Another patient chosen by hand survives a reload too.
    await sam.get_by_label("Name or date of birth").fill("dana")
    await sam.get_by_role("button", name="Search").click()
    await sam.get_by_role("button", name="Dana").click()
    await chosen.get_by_text("Dana").wait_for()
    await sam.reload()
    await chosen.get_by_text("Dana").wait_for()
    assert await sam.get_by_label("Prescriber", exact=True).input_value() == str(cast.charlie.id)
    assert [e for e in sam.console_errors if "Failed to load resource" not in e] == []


async def test_a_week_you_can_read(new_page, client, cast: Cast, clock, sessionmaker):
    from datetime import UTC, datetime

    from tests.builders import make_visit, open_hours

    clock.set(datetime(2026, 10, 28, 12, tzinfo=UTC))  # Wednesday 08:00 in New York
    await open_hours(sessionmaker, cast.bob, start="09:00", end="17:00")
    thursday_10 = datetime(2026, 10, 29, 14, tzinfo=UTC)
    await make_visit(sessionmaker, cast.alice, cast.bob, thursday_10, minutes=60)
    await make_visit(
        sessionmaker, cast.dana, cast.bob, thursday_10 + timedelta(hours=3), status="cancelled"
    )
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        datetime(2026, 10, 26, 14, tzinfo=UTC),
        status="finished",
    )
    sam = await new_page()
    await sign_in(sam, "sam", lands_on="/scheduler")
    await sam.get_by_label("Prescriber", exact=True).select_option(str(cast.bob.id))
    await sam.wait_for_load_state("networkidle")
    week = sam.locator("#week")
    monday = week.get_by_role("region", name="Mon 26 Oct (past)")
    await monday.wait_for()
    assert "Alice Able" in await monday.inner_text()  # what happened stays on the day
    await week.get_by_role("region", name="Tue 27 Oct (past)").wait_for()
    assert await week.get_by_role("region", name="Wed 28 Oct", exact=True).count() == 1
    thursday = week.get_by_role("region", name="Thu 29 Oct")
    visit = thursday.locator(".slot.booked")
    await expect(visit).to_have_count(1)  # the cancelled one is out of the way
    assert "10:00 AM EDT · 60 min" in await visit.inner_text()
    assert "Alice Able" in await visit.inner_text()
    wednesday = week.get_by_role("region", name="Wed 28 Oct", exact=True)
    height = await wednesday.locator(".day-items").evaluate(
        "(node) => node.getBoundingClientRect().height"
    )
    assert height < 500, height  # 31 free times, one row per hour, not a column of buttons

    await sam.get_by_label("Show cancelled visits").check()
    await expect(thursday.locator(".slot.booked")).to_have_count(2)
    assert "Cancelled" in await thursday.locator(".slot.booked", has_text="Dana").inner_text()


async def test_several_prescribers_days_side_by_side(new_page, cast: Cast, clock, sessionmaker):
    from datetime import UTC, datetime

    from tests.builders import open_hours

    clock.set(datetime(2026, 10, 28, 12, tzinfo=UTC))  # Wednesday 08:00 in New York
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00")
    await open_hours(sessionmaker, cast.charlie, start="13:00", end="17:00")
    sam = await new_page()
    await sign_in(sam, "sam", lands_on="/scheduler")
    await sam.get_by_label("Name or date of birth").fill("alice")
    await sam.get_by_role("button", name="Search").click()
    await sam.get_by_role("button", name="Alice Able").click()
    await sam.get_by_label("All prescribers' day, side by side").check()
    week = sam.locator("#week")
    bob = week.get_by_role("region", name="Dr Bob Baker, Wed 28 Oct")
    charlie = week.get_by_role("region", name="Dr Charlie Chu, Wed 28 Oct")
    await bob.wait_for()
    await charlie.wait_for()
    assert "9 AM" in await bob.inner_text() and "1 PM" not in await bob.inner_text()
    assert "1 PM" in await charlie.inner_text()
    await charlie.get_by_role("button", name="Free: Wed 28 Oct, 2:00 PM EDT").click()
    assert (
        "with Dr Charlie Chu on Wed 28 Oct, 2:00 PM EDT"
        in await sam.locator("#confirm-text").inner_text()
    )
    await sam.get_by_role("button", name="Book visit").click()
    await sam.get_by_text("Booked Alice Able for Wed 28 Oct, 2:00 PM EDT").wait_for()
    await expect(charlie.locator(".slot.booked")).to_have_count(1)
    await sam.get_by_role("button", name="Next day").click()
    await week.get_by_role("region", name="Dr Bob Baker, Thu 29 Oct").wait_for()
