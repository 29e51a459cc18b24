"""The waiting room shows arrival times in the prescriber's own zone, like the rest."""

from datetime import timedelta

from tests.builders import PASSWORD, Cast, make_visit


async def test_waiting_since_is_shown_in_the_prescribers_zone_not_the_browsers(
    new_page, cast: Cast, clock, sessionmaker
):
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=3),
        status="waiting",
        location_state="NY",
    )
    page = await new_page(timezone_id="Asia/Tokyo")
    await page.goto("/login")
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/prescriber")
    since = page.locator("#waiting-list .waiting-since")
    await since.wait_for()
    text = await since.inner_text()
    assert "EST" in text or "EDT" in text, text
