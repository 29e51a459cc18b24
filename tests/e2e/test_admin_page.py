"""The administrator creates accounts from the admin home page."""

from pathlib import Path

from playwright.async_api import expect

from telehealth.auth.npi import npi_with_check_digit
from tests.builders import PASSWORD, Cast


async def test_the_admin_creates_a_prescriber_and_sees_a_clear_error_first(new_page, cast: Cast):
    page = await new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin")
    await page.get_by_role("cell", name="charlie", exact=True).wait_for()

    await page.get_by_label("Role").select_option("prescriber")
    await page.get_by_label("Username").fill("dr.gomez")
    await page.get_by_label("Full legal name").fill("Dr Ana Gomez")
    await page.get_by_label("Password").fill("a-long-password")
    await page.get_by_label("NPI").fill("1234567890")  # wrong check digit
    await page.get_by_label("Licensed states (comma-separated)").fill("NY, NJ")
    await page.get_by_label("Time zone").fill("America/New_York")
    await page.get_by_role("button", name="Create account").click()
    error = page.locator("#new-account-error")
    await error.wait_for()
    assert "check digit" in await error.inner_text()
    assert await page.evaluate("document.activeElement.name") == "npi"

    await page.get_by_label("NPI").fill(npi_with_check_digit("987654321"))
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("status").filter(has_text="Created dr.gomez").wait_for()
    await page.get_by_role("cell", name="dr.gomez", exact=True).wait_for()
    assert [e for e in page.console_errors if "Failed to load resource" not in e] == []


async def test_deactivating_an_account_asks_first_and_the_admin_cannot_deactivate_herself(
    new_page, cast: Cast
):
    page = await new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin")
    await page.get_by_role("cell", name="charlie", exact=True).wait_for()
    assert await page.get_by_role("button", name="Deactivate ada").count() == 0
    assert await page.get_by_role("button", name="Deactivate sam").count() == 1

    opener = page.get_by_role("button", name="Deactivate charlie")
    await opener.click()
    dialog = page.get_by_role("dialog", name="Deactivate charlie?")
    await dialog.wait_for()
    assert "signed out everywhere" in await dialog.inner_text()
    await dialog.get_by_role("button", name="Keep active").click()
    await expect(dialog).to_have_count(0)
    assert await page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Deactivate charlie"
    )
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name="charlie", exact=True))
    assert "active" in await row.inner_text()

    await opener.click()
    await dialog.get_by_role("button", name="Deactivate").click()
    await page.get_by_role("button", name="Reactivate charlie").wait_for()
    assert "deactivated" in await row.inner_text()
    assert [e for e in page.console_errors if "Failed to load resource" not in e] == []


async def test_the_account_form_shows_only_the_chosen_roles_fields_and_a_supervisor_by_name(
    new_page, cast: Cast, sessionmaker
):
    from telehealth.auth.models import PrescriberProfile, User

    page = await new_page()
    await page.goto("/login")
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin")
    await expect(page.get_by_label("Date of birth")).to_be_visible()
    await expect(page.get_by_label("NPI")).to_be_hidden()

    await page.get_by_label("Role").select_option("scheduler")
    await expect(page.get_by_label("Date of birth")).to_be_hidden()
    await expect(page.get_by_label("Time zone")).to_be_hidden()

    await page.get_by_label("Role").select_option("prescriber")
    await expect(page.get_by_label("Date of birth")).to_be_hidden()
    await expect(page.get_by_label("Supervising psychiatrist")).to_be_hidden()  # not a PA
    await page.get_by_label("Credential").select_option("PA")
    supervisor = page.get_by_label("Supervising psychiatrist")
    await expect(supervisor).to_be_visible()
    await supervisor.select_option(label="Dr Bob Baker (bob)")
    await page.get_by_label("Username").fill("pa.lee")
    await page.get_by_label("Full legal name").fill("Lee Park, PA-C")
    await page.get_by_label("Password").fill("a-long-password")
    await page.get_by_label("NPI").fill(npi_with_check_digit("555444333"))
    await page.get_by_label("Licensed states (comma-separated)").fill("NY")
    await page.get_by_label("Time zone").fill("America/New_York")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("status").filter(has_text="Created pa.lee").wait_for()
    async with sessionmaker() as session:
        from sqlmodel import select

        user = (await session.execute(select(User).where(User.username == "pa.lee"))).scalar_one()
        profile = await session.get(PrescriberProfile, user.id)
        assert profile.supervising_prescriber_id == cast.bob.id


async def test_a_privacy_officer_finds_a_patients_entries_by_name_and_exports_them(
    new_page, client, cast: Cast, sessionmaker, clock
):
    from datetime import UTC, datetime, timedelta

    from tests.builders import book_telehealth

    clock.set(datetime(2030, 3, 5, 15, 0, tzinfo=UTC))
    booked = await book_telehealth(client, sessionmaker, cast, clock.now + timedelta(days=1))
    await client.post("/api/join", json={"token": booked["token"], "date_of_birth": "1999-01-01"})

    page = await new_page(timezone_id="America/Chicago", accept_downloads=True)
    await page.goto("/login")
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin")
    await page.get_by_role("link", name="Search the audit log").click()
    await page.get_by_label("Patient name or date of birth").fill("Alice Able")
    await page.get_by_role("button", name="Search").click()
    table = page.locator("#audit-entries")
    await table.get_by_text("times in your time zone, America/Chicago").wait_for()
    refused = table.locator("tr", has_text="wrong date of birth")
    assert "Alice Able" in await refused.inner_text()
    assert "CST" in await refused.inner_text()  # 9:00 AM in Chicago, not 15:00 UTC
    assert "Sam" in await table.inner_text()
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Export these entries (CSV)").click()
    download = await download_info.value
    text = Path(await download.path()).read_text()
    assert text.startswith("seq,time_utc,user_id,user_name")
    assert "wrong date of birth" in text
    await page.get_by_label("Patient name or date of birth").fill("")
    await page.get_by_label("User id").fill(str(cast.ada.id))
    await page.get_by_role("button", name="Search").click()
    await table.locator("tr", has_text="export").first.wait_for()  # the export is audited
