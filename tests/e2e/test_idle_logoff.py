"""Automatic logoff as a person at the screen sees it."""

from tests.builders import PASSWORD, Cast


async def sign_in(page, username: str) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


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
