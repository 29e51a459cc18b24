"""The patient's paths on a phone: the visit summary reached from the invitation link after the
visit, and join errors that tell the truth once the date of birth is right."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth.visits.joinlinks import join_url
from telehealth.visits.models import Visit
from tests.builders import SERTRALINE, Cast, book_telehealth, login, make_visit

pytestmark = pytest.mark.e2e

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True}
NOW = datetime(2030, 3, 5, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York
DOB = "1990-05-17"
PLAN = "We raise sertraline to help with the worry. Keep walking every day."


async def link_of(sessionmaker: Any, settings: Any, visit_id: int) -> str:
    async with sessionmaker() as session:
        visit = await session.get(Visit, visit_id)
        return join_url(settings.public_url, visit, settings.secret_key)


async def open_link(page: Any, url: str, dob: str = DOB) -> None:
    await page.goto(url)
    await page.get_by_label("Date of birth").fill(dob)
    await page.get_by_role("button", name="Continue").click()


async def no_sideways_scroll(page: Any) -> bool:
    width: bool = await page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth"
    )
    return width


async def test_after_the_visit_the_patient_opens_her_summary_from_the_invitation_link(
    new_page, client, cast: Cast, clock, sessionmaker, settings
):
    clock.set(NOW)
    visit_id = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        NOW - timedelta(minutes=40),
        status="in_progress",
        location_state="NY",
    )
    await make_visit(sessionmaker, cast.alice, cast.bob, NOW + timedelta(days=28))
    await login(client, cast.bob)
    ordered = await client.post(f"/api/visits/{visit_id}/orders", json=SERTRALINE)
    assert ordered.status == 201, await ordered.text()
    await client.put(f"/api/visits/{visit_id}/note", json={"plan": PLAN, "version": 0})
    assert (await client.post(f"/api/visits/{visit_id}/complete")).status == 200
    url = await link_of(sessionmaker, settings, visit_id)

    page = await new_page(**PHONE)
    await open_link(page, url)
    await page.wait_for_url(f"**/visit/{visit_id}")
    ended = page.locator("#step-ended")
    await ended.get_by_text("This visit has ended").wait_for()
    assert await ended.get_by_text("once Dr Bob Baker signs it").is_visible()
    assert await page.get_by_role("link", name="Read your visit summary").count() == 0

    assert (await client.post(f"/api/visits/{visit_id}/note/sign")).status == 200
    await page.reload()
    await page.get_by_role("link", name="Read your visit summary").click()
    await page.wait_for_url(f"**/visits/{visit_id}/summary")
    assert await page.get_by_role("heading", name="What we decided").is_visible()
    assert await page.get_by_text(PLAN).is_visible()
    meds = page.locator("#summary-medications")
    assert "new, start taking it" in await meds.inner_text()
    assert "Take 50 mg by mouth, once daily." in await meds.inner_text()
    assert "Take in the morning with food." in await meds.inner_text()
    next_visit = await page.locator("#summary-next").inner_text()
    assert "Tuesday 2 April 2030 at 11:00 AM EDT" in next_visit  # her zone, in words
    assert await page.get_by_text("call the practice").is_visible()
    assert "Subjective" not in await page.content()
    assert await no_sideways_scroll(page)
    assert page.console_errors == []


async def test_join_errors_tell_the_patient_what_happened_once_her_date_of_birth_is_right(
    new_page, client, cast: Cast, clock, sessionmaker, settings
):
    clock.set(NOW)
    early = await book_telehealth(client, sessionmaker, cast, NOW + timedelta(days=1))
    moved = await book_telehealth(client, sessionmaker, cast, NOW + timedelta(days=2))
    await client.post(
        f"/api/visits/{moved['id']}/reschedule",
        json={"start": (NOW + timedelta(days=2, hours=2)).isoformat()},
    )
    cancelled = await book_telehealth(client, sessionmaker, cast, NOW + timedelta(days=3))
    await client.post(f"/api/visits/{cancelled['id']}/cancel", json={"reason": "sick"})

    page = await new_page(**PHONE)
    error = page.locator("#join-error")

    await open_link(page, early["join_url"], "1999-01-01")
    await error.get_by_text("could not open a visit").wait_for()  # the neutral answer
    await open_link(page, early["join_url"])
    await error.get_by_text("You can join from Wed 6 Mar, 9:30 AM EST").wait_for()

    await open_link(page, moved["join_url"])
    await error.get_by_text("was moved to Thu 7 Mar, 12:00 PM EST").wait_for()

    await open_link(page, cancelled["join_url"])
    await error.get_by_text("This visit was cancelled").wait_for()

    for _ in range(settings.join_attempts - 1):  # one wrong try was made above
        await open_link(page, early["join_url"], "1999-01-01")
        await error.get_by_text("could not open a visit").wait_for()
    await open_link(page, early["join_url"])
    await error.get_by_text("This link is locked").wait_for()
    assert "Call the practice" in await error.inner_text()
    assert page.url.endswith(early["token"])  # still on the link page, no session opened
    # The refusals themselves are logged by the browser as failed loads; nothing else broke.
    assert [e for e in page.console_errors if "Failed to load resource" not in e] == []


OVERLAP = """() => {
  const text = document.getElementById("remote-placeholder");
  const range = document.createRange();
  range.selectNodeContents(text);
  const self = document.getElementById("self-video").getBoundingClientRect();
  return [...range.getClientRects()].some((r) => r.width > 0 && r.left < self.right
    && r.right > self.left && r.top < self.bottom && r.bottom > self.top);
}"""


async def test_the_visit_page_says_who_and_when_in_words_and_nothing_covers_the_waiting_text(
    new_page, client, cast: Cast, clock, sessionmaker
):
    clock.set(NOW)
    booked = await book_telehealth(client, sessionmaker, cast, NOW + timedelta(minutes=10))
    page = await new_page(**PHONE)
    await open_link(page, booked["join_url"])
    # The visit's questionnaires come first; she leaves them for later.
    await page.wait_for_url(f"**/visits/{booked['id']}/questionnaires")
    await page.get_by_role("link", name="Answer later and go to the visit now").click()
    await page.wait_for_url(f"**/visit/{booked['id']}")
    intro = await page.locator("#visit-app").inner_text()
    assert "Your video visit with Dr Bob Baker" in intro
    assert "Tuesday 5 March 2030, 10:10 AM EST" in intro
    assert "America/New_York" not in intro  # a zone id is not for patients
    await page.get_by_role(
        "heading", name="Step 1 of 3: check your camera and microphone"
    ).wait_for()
    await page.get_by_role("button", name="My camera and microphone work").click()
    await page.get_by_role("heading", name="Step 2 of 3: check in").wait_for()
    await page.get_by_role("button", name="Check in").click()
    await page.get_by_role("heading", name="Step 3 of 3: your visit").wait_for()
    await page.locator("#waiting-note").get_by_text("You are checked in.").wait_for()
    placeholder = page.get_by_text("Waiting for Dr Bob Baker")
    assert await placeholder.is_visible()
    assert not await page.evaluate(OVERLAP)  # the self view does not cover it
    assert await no_sideways_scroll(page)
