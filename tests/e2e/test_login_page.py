"""The sign-in page, as each role meets it in a real browser."""

import pytest

from tests.builders import PASSWORD, Cast

HOMES = [("alice", "/patient"), ("bob", "/prescriber"), ("sam", "/scheduler"), ("ada", "/admin")]


@pytest.mark.parametrize(("username", "home"), HOMES)
async def test_each_role_signs_in_through_the_form_and_lands_on_its_home(
    new_page, cast: Cast, username: str, home: str
):
    page = await new_page()
    await page.goto("/")
    assert page.url.endswith("/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**{home}")
    assert await page.locator(f"h1[data-home='{home.strip('/')}']").count() == 1
    assert page.console_errors == []


async def test_a_wrong_password_says_so_and_keeps_the_username(new_page, cast: Cast):
    page = await new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").wait_for()
    assert "not right" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Username").input_value() == "bob"
