"""The pre-call connection test page in a real browser against the server's aiortc peer."""

from __future__ import annotations

from typing import Any

import pytest

from telehealth.keys import PRECALL
from tests.builders import Cast
from tests.e2e.pages import sign_in
from tests.waiting import eventually

pytestmark = pytest.mark.e2e


async def test_patient_sees_own_video_come_back_and_a_round_trip_time(
    new_page: Any, cast: Cast, app: Any
) -> None:
    page = await new_page()
    await sign_in(page, "alice", "/precall")

    await page.get_by_role("button", name="Start the test").click()

    await page.wait_for_function(
        """() => {
          const v = document.getElementById('precall-echo');
          return v.readyState >= 2 && v.videoWidth > 0 && v.currentTime > 0.5;
        }""",
        timeout=30_000,
    )
    await page.get_by_text("Yes: your video came back").wait_for()
    rtt = page.locator("#precall-rtt[data-ms]")
    await rtt.wait_for()
    assert " ms (" in await rtt.inner_text()
    assert await page.locator("#precall-state").inner_text() == "Connected"
    assert len(app[PRECALL]) == 1

    await page.get_by_role("button", name="Stop the test").click()
    await eventually(lambda: len(app[PRECALL]) == 0, what="the server's test peer is closed")
    assert page.console_errors == []
