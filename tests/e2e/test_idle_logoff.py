"""Automatic logoff as a person at the screen sees it."""

from tests.builders import PASSWORD, Cast
from tests.e2e.pages import sign_in


async def test_an_unattended_page_warns_then_returns_to_sign_in(new_page, cast: Cast, clock):
    page = await new_page()
    await page.clock.install()
    await sign_in(page, "sam")
    await page.wait_for_url("**/scheduler")
    await page.clock.run_for(14 * 60_000 + 10_000)
    warning = page.get_by_role("alert").filter(has_text="signed out in")
    await warning.wait_for()
    await page.clock.run_for(60_000)
    await page.wait_for_url("**/login?expired=1")
    assert "inactivity" in await page.locator("main").inner_text()


async def test_typing_keeps_the_session_and_the_warning_goes_away(new_page, cast: Cast, clock):
    page = await new_page()
    await page.clock.install()
    await sign_in(page, "sam")
    await page.wait_for_url("**/scheduler")
    await page.clock.run_for(14 * 60_000 + 10_000)
    await page.get_by_role("alert").filter(has_text="signed out in").wait_for()
    await page.keyboard.press("Shift")
    await page.clock.run_for(6_000)
    assert await page.get_by_role("alert").filter(has_text="signed out in").count() == 0
    await page.clock.run_for(10 * 60_000)
    assert page.url.endswith("/scheduler")


async def test_a_call_after_the_server_ended_the_session_goes_to_sign_in_which_says_why(
    new_page, cast: Cast, clock
):
    # One reaction to a 401 on every page (web/static/js/api.js): the scheduler's search,
    # after the server's idle limit passed while the page slept.
    page = await new_page()
    await sign_in(page, "sam")
    await page.wait_for_url("**/scheduler")
    await (
        page.get_by_label("Prescriber", exact=True)
        .locator("option")
        .first.wait_for(state="attached")
    )
    clock.advance(minutes=16)
    await page.get_by_label("Name or date of birth").fill("alice")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/login?expired=1")
    assert "inactivity" in await page.locator("main").inner_text()


async def test_a_call_after_signing_out_elsewhere_offers_sign_in_and_the_way_back(
    new_page, cast: Cast, clock
):
    page = await new_page()
    await sign_in(page, "sam")
    await page.wait_for_url("**/scheduler")
    other_tab = await page.context.new_page()
    await other_tab.goto("/scheduler")
    await other_tab.get_by_role("button", name="Sign out").click()
    await other_tab.wait_for_url("**/login**")
    await page.get_by_label("Name or date of birth").fill("alice")
    await page.get_by_role("button", name="Search").click()
    await page.wait_for_url("**/login?signed_out=1&next=%2Fscheduler")
    assert "You are signed out." in await page.locator("main").inner_text()
    await page.get_by_label("Username").fill("sam")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/scheduler")
