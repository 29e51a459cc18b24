"""A prescriber who opened the call page early gets the record and the state at check-in."""

from __future__ import annotations

from datetime import timedelta

from telehealth.signaling.rooms import visit_room
from tests.builders import PASSWORD, Cast, make_visit
from tests.e2e.pages import page_sockets_in, sign_in


async def test_the_call_page_opened_before_check_in_updates_when_the_patient_checks_in(
    new_page, client, app, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10)
    )
    page = await new_page()
    await sign_in(page, "bob", f"/visits/{visit_id}/call")
    panel = page.locator("[data-record-panel]")
    await panel.wait_for(state="attached")
    assert await panel.get_attribute("data-can-write") == "false"
    await page_sockets_in(app, visit_room(visit_id))  # the page's socket joined the call

    response = await client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert response.status == 200
    checked_in = await client.post(
        f"/api/visits/{visit_id}/check-in", json={"location_state": "NJ"}
    )
    assert checked_in.status == 200, await checked_in.text()

    await page.locator("[data-record-panel][data-can-write='true']").wait_for()
    assert "New Jersey" in await page.locator("main").inner_text()
    await page.get_by_role("button", name="Admit Alice Able").wait_for()
