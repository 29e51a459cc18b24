"""A whole video visit in two real browsers: the patient from the invitation link, the
prescriber from the dashboard, through admission, live video both ways, to the end."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from telehealth.app import create_app
from telehealth.signaling.rooms import visit_room
from telehealth.visits.models import Visit, VisitStatus
from tests.builders import PASSWORD, Cast, login
from tests.e2e.pages import page_sockets_in

pytestmark = pytest.mark.e2e

# A Tuesday, 10:00 in New York: inside Bob's hours, 10 minutes before the visit.
NOW = datetime(2030, 3, 5, 15, 0, tzinfo=UTC)
START = datetime(2030, 3, 5, 15, 10, tzinfo=UTC)

VIDEO_PLAYING = """(id) => {
  const v = document.getElementById(id);
  return !!v && v.readyState >= 2 && v.videoWidth > 0 && !v.paused;
}"""


async def book_video_visit(client: Any, cast: Cast) -> dict[str, Any]:
    """Sam books Alice with Bob through the public API; the answer carries her join link."""
    await login(client, cast.sam)
    hours = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability",
        json={"weekly": [{"weekday": 1, "start": "09:00", "end": "17:00"}], "exceptions": []},
    )
    assert hours.status == 200, await hours.text()
    booked = await client.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": START.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert booked.status == 201, await booked.text()
    visit: dict[str, Any] = await booked.json()
    return visit


async def assert_video_flows(page: Any, element_id: str) -> None:
    """Playing, with a picture, and new frames arriving (not a frozen last frame)."""
    await page.wait_for_function(VIDEO_PLAYING, arg=element_id, timeout=30_000)
    before = await page.evaluate(
        """(id) => {
          const v = document.getElementById(id);
          return [v.currentTime, v.getVideoPlaybackQuality().totalVideoFrames];
        }""",
        element_id,
    )
    await page.wait_for_function(
        """([id, t, frames]) => {
          const v = document.getElementById(id);
          const shown = v.getVideoPlaybackQuality().totalVideoFrames;
          return v.currentTime > t + 0.3 && shown > frames + 5;
        }""",
        arg=[element_id, *before],
        timeout=10_000,
    )


async def open_call(new_page: Any, client: Any, cast: Cast, clock: Any) -> tuple[int, Any, Any]:
    """Book, let the patient in through her link and the prescriber through the dashboard,
    and wait until each sees the other's video."""
    clock.set(NOW)
    visit = await book_video_visit(client, cast)
    visit_id = int(visit["id"])

    # The patient opens the invitation link on a phone-sized screen.
    patient = await new_page(viewport={"width": 375, "height": 740})
    await patient.goto(visit["join_url"])
    await patient.get_by_label("Date of birth").fill("1990-05-17")
    await patient.get_by_role("button", name="Continue").click()
    # The visit's questionnaires come first; she leaves them for later.
    await patient.wait_for_url(f"**/visits/{visit_id}/questionnaires")
    await patient.get_by_role("link", name="Answer later and go to the visit now").click()
    await patient.wait_for_url(f"**/visit/{visit_id}")

    # Device check: the camera preview plays; then she checks in from New York.
    await patient.wait_for_function(VIDEO_PLAYING, arg="preview")
    await patient.get_by_role("button", name="My camera and microphone work").click()
    state = patient.get_by_label("Which state are you in right now?")
    assert await state.input_value() == "NY"
    await patient.get_by_role("button", name="Check in").click()
    await patient.locator("#waiting-note").get_by_text("You are checked in.").wait_for()
    await patient.get_by_role("status").get_by_text("waiting room").wait_for()

    # The prescriber signs in and sees her in the waiting room, then admits her.
    prescriber = await new_page()
    await prescriber.goto("/login")
    await prescriber.get_by_label("Username").fill("bob")
    await prescriber.get_by_label("Password").fill(PASSWORD)
    await prescriber.get_by_role("button", name="Sign in").click()
    await prescriber.wait_for_url("**/prescriber")
    waiting = prescriber.locator("#waiting-list li", has_text="Alice Able")
    await waiting.wait_for()
    assert "1 waiting" in await prescriber.locator("#waiting-count").inner_text()
    await prescriber.get_by_role("button", name="Admit Alice Able").click()
    await prescriber.wait_for_url(f"**/visits/{visit_id}/call**")

    # Both see the other's video playing; nothing spills sideways on the phone.
    await assert_video_flows(prescriber, "remote-video")
    await assert_video_flows(patient, "remote-video")
    assert await patient.evaluate("document.documentElement.scrollWidth") <= 375
    return visit_id, patient, prescriber


async def test_patient_and_prescriber_see_each_other_and_the_prescriber_ends_the_visit(
    new_page: Any, client: Any, cast: Cast, clock: Any
) -> None:
    visit_id, patient, prescriber = await open_call(new_page, client, cast, clock)
    await prescriber.get_by_role("status").get_by_text("Connected.").wait_for()
    # An attended call keeps both sessions from idling out (idle.js reads this).
    assert await prescriber.evaluate("document.body.dataset.inCall") == "1"

    # Ending asks first (a modal dialog); "Keep talking" keeps the call.
    end = prescriber.get_by_role("button", name="End visit", exact=True)
    await end.click()
    dialog = prescriber.get_by_role("dialog", name="End the visit for both of you?")
    await dialog.get_by_role("button", name="Keep talking").click()
    assert await prescriber.evaluate("document.activeElement.id") == "end-visit"
    assert await patient.locator("#step-ended").is_hidden()
    # The prescriber ends the visit; the patient is told.
    await end.click()
    await dialog.get_by_role("button", name="Yes, end visit").click()
    await patient.get_by_role("heading", name="The visit has ended").wait_for()
    await prescriber.get_by_role("heading", name="The visit has ended").wait_for()

    record = await client.get(f"/api/visits/{visit_id}")
    assert (await record.json())["status"] == "finished"
    assert patient.console_errors == []
    assert prescriber.console_errors == []


async def test_a_reload_and_a_second_tab_bring_the_patient_back_without_ending_the_visit(
    new_page: Any, client: Any, cast: Cast, clock: Any
) -> None:
    visit_id, patient, prescriber = await open_call(new_page, client, cast, clock)

    await patient.reload()

    await assert_video_flows(patient, "remote-video")
    await assert_video_flows(prescriber, "remote-video")

    second_tab = await patient.context.new_page()
    await second_tab.goto(f"/visit/{visit_id}")

    await patient.get_by_role("heading", name="This visit is open in another tab").wait_for()
    await assert_video_flows(second_tab, "remote-video")
    await assert_video_flows(prescriber, "remote-video")
    record = await client.get(f"/api/visits/{visit_id}")
    assert (await record.json())["status"] == "in_progress"


async def test_a_server_restart_mid_call_does_not_end_the_visit(
    new_page: Any,
    client: Any,
    cast: Cast,
    clock: Any,
    server: Any,
    settings: Any,
    sessionmaker: Any,
) -> None:
    visit_id, patient, prescriber = await open_call(new_page, client, cast, clock)

    await server.close()
    restarted = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=settings.port)
    await restarted.start_server()
    try:
        await page_sockets_in(restarted.app, visit_room(visit_id), 2)  # both pages rejoined
        await assert_video_flows(patient, "remote-video")
        await assert_video_flows(prescriber, "remote-video")

        await prescriber.get_by_role("button", name="End visit", exact=True).click()
        await prescriber.get_by_role("button", name="Yes, end visit").click()
        await patient.get_by_role("heading", name="The visit has ended").wait_for()
    finally:
        await restarted.close()
    async with sessionmaker() as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        assert visit.status is VisitStatus.finished


async def test_signing_out_in_another_tab_ends_the_prescribers_call_at_once(
    new_page: Any, client: Any, cast: Cast, clock: Any
) -> None:
    _visit_id, patient, prescriber = await open_call(new_page, client, cast, clock)
    other_tab = await prescriber.context.new_page()
    await other_tab.goto("/prescriber")
    await other_tab.get_by_role("button", name="Sign out").click()
    await other_tab.wait_for_url("**/login**")

    # Without waiting for the call's next message to the server: told at once, media stopped.
    await (
        prescriber.get_by_role("status").get_by_text("You were signed out").wait_for(timeout=5_000)
    )
    assert await prescriber.evaluate("document.body.dataset.inCall") == "0"
    await patient.get_by_text("Your prescriber's connection dropped").wait_for(timeout=5_000)
    assert prescriber.console_errors == []
