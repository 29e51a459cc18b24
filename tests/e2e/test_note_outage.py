"""A note is never lost to a dropped connection, even across a reload."""

from __future__ import annotations

from playwright.async_api import expect

from tests.builders import Cast, login, make_visit
from tests.e2e.pages import sign_in
from tests.e2e.test_orders_page import SAVED


async def saved_subjective(client, cast: Cast, visit_id: int) -> str:
    await login(client, cast.bob)
    note = await (await client.get(f"/api/visits/{visit_id}/note")).json()
    return str(note.get("subjective", ""))


async def test_text_typed_while_offline_is_saved_when_the_connection_returns(
    new_page, client, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    page = await new_page()
    await sign_in(page, "bob", f"/visits/{visit_id}/record")
    status = page.locator("[data-note-status]")
    await status.wait_for(state="attached")

    await page.context.set_offline(True)
    await page.get_by_label("Subjective").fill("Typed during the outage.")
    await status.filter(has_text="no connection").wait_for()
    await page.context.set_offline(False)
    await status.filter(has_text=SAVED).wait_for(timeout=20_000)
    assert await saved_subjective(client, cast, visit_id) == "Typed during the outage."


async def test_a_reload_before_the_save_went_through_restores_and_saves_the_text(
    new_page, client, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    page = await new_page()
    await sign_in(page, "bob", f"/visits/{visit_id}/record")
    await page.locator("[data-note-status]").wait_for(state="attached")

    # Saves fail (the server is unreachable for them), then the page is reloaded.
    note_url = f"**/api/visits/{visit_id}/note"

    async def drop_saves(route):
        if route.request.method == "PUT":
            await route.abort()
        else:
            await route.continue_()

    await page.route(note_url, drop_saves)
    await page.get_by_label("Plan").fill("Increase sertraline to 100 mg.")
    await page.locator("[data-note-status]", has_text="no connection").wait_for()
    await page.unroute(note_url)
    await page.reload()

    # The page restores the unsaved text once its script runs: wait for it, not the load.
    await expect(page.get_by_label("Plan")).to_have_value("Increase sertraline to 100 mg.")
    await page.locator("[data-note-status]", has_text=SAVED).wait_for(timeout=20_000)
    await login(client, cast.bob)
    note = await (await client.get(f"/api/visits/{visit_id}/note")).json()
    assert note["plan"] == "Increase sertraline to 100 mg."
