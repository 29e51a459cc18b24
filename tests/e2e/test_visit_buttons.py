"""A visit's buttons are the server's `can` flags: the pages keep no copy of the status sets.

The scheduler sees no Cancel on a checked-in visit its prescriber has written on (the server
says can.cancel is false, though the status alone would allow it); the home page shows Join
and Add to calendar exactly when the server says so, whatever the status, even one the page
has never heard of."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.async_api import expect

from tests.builders import Cast, login, make_visit
from tests.e2e.test_booking import MONDAY, sign_in

pytestmark = pytest.mark.e2e


async def test_a_visit_the_server_says_may_not_be_cancelled_shows_no_cancel_button(
    new_page, client, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    later = await make_visit(sessionmaker, cast.alice, cast.bob, MONDAY + timedelta(hours=3))
    waiting = await make_visit(
        sessionmaker, cast.alice, cast.bob, MONDAY, status="waiting", location_state="NY"
    )
    await login(client, cast.bob)
    note = await client.put(f"/api/visits/{waiting}/note", json={"plan": "Walk.", "version": 0})
    assert note.status == 200, await note.text()
    await login(client, cast.sam)
    shown = await (await client.get(f"/api/visits/{waiting}")).json()
    assert shown["status"] == "waiting"  # a status the cancel rule allows on its own...
    assert shown["can"]["cancel"] is False  # ...but the note makes it a visit to finish
    assert shown["can"]["noshow"] is False

    sam = await new_page()
    await sign_in(sam, "sam", "/scheduler")
    await sam.get_by_label("Prescriber", exact=True).select_option(str(cast.bob.id))
    open_one = sam.locator(f".slot.booked[data-visit-id='{later}']")
    await expect(
        open_one.get_by_role("button", name="Cancel the visit of Alice Able")
    ).to_be_visible()
    written_on = sam.locator(f".slot.booked[data-visit-id='{waiting}']")
    await expect(written_on.locator(".badge")).to_have_text("Waiting")
    await expect(written_on.get_by_role("button", name="Copy the join link")).to_be_visible()
    changes = written_on.get_by_role("button", name=re.compile("^(Cancel|Move|Mark) "))
    assert await changes.count() == 0
    assert [e for e in sam.console_errors if "Failed to load resource" not in e] == []


async def test_the_home_page_shows_join_and_calendar_by_the_flags_not_the_status(
    new_page, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    refused = await make_visit(sessionmaker, cast.alice, cast.bob, MONDAY + timedelta(days=1))
    unknown = await make_visit(sessionmaker, cast.alice, cast.bob, MONDAY + timedelta(days=2))
    alice = await new_page()

    async def rewrite(route: Any) -> None:
        # What a newer server could say: a booked visit that may not be joined yet, and a
        # status this page has no words for that may be.
        response = await route.fetch()
        body = await response.json()
        for visit in body["visits"]:
            assert visit["can"]["join"] is True and visit["can"]["calendar"] is True
            if visit["id"] == refused:
                visit["can"] |= {"join": False, "calendar": False}
            if visit["id"] == unknown:
                visit["status"] = "on_hold"
        await route.fulfill(response=response, body=json.dumps(body))

    await alice.route(lambda url: "/api/visits?upcoming=1" in url, rewrite)
    await sign_in(alice, "alice", "/patient")
    first = alice.locator(f".visit-item[data-visit-id='{refused}']")
    second = alice.locator(f".visit-item[data-visit-id='{unknown}']")
    await expect(second.get_by_role("link", name="Join")).to_have_attribute(
        "href", f"/visit/{unknown}"
    )
    await expect(second.get_by_role("link", name="to your calendar")).to_be_visible()
    await expect(first.locator(".badge")).to_have_text("Booked")
    assert await first.get_by_role("link").count() == 0
    assert [e for e in alice.console_errors if "Failed to load resource" not in e] == []
