"""Patients' networks in two real browsers: the patient's Chromium runs in a network
namespace behind a NAT router (tests/netns.py). When the link drops a quarter of the UDP
packets, the patient's page says so in plain words, offers audio only, and the practice
finds the poor quality samples on the visit's call history. When the patient's address
changes mid-call, the pages restart ICE and the call goes on within five seconds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from telehealth.app import create_app
from tests.builders import Cast, free_port, login
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.test_relay_call import RECORD_PEERS
from tests.e2e.test_video_visit import assert_video_flows, open_call
from tests.netns import IP, HomeNetwork, home_network, require_network_namespaces

pytestmark = pytest.mark.e2e

SENDING_VIDEO = """() => window.__peers.some(({ pc }) => pc.connectionState === "connected" &&
  pc.getSenders().some((s) => s.track && s.track.kind === "video"))"""


@contextlib.asynccontextmanager
async def call_from_home(
    playwright_instance: Any, client: Any, cast: Cast, clock: Any, settings: Any, tmp_path: Path
) -> AsyncIterator[tuple[HomeNetwork, int, Any, Any]]:
    """The server on the internet side of the patient's home; the patient's Chromium at
    home, the prescriber's outside; a video call between them, both seeing the other."""
    require_network_namespaces()
    home = home_network()
    browsers: list[Any] = []
    web = None
    try:
        port = free_port()
        settings.public_url = f"http://{home.public}:{port}"
        web = TestServer(create_app(settings, clock=clock), host=home.public, port=port)
        await web.start_server()
        # The page is served over plain HTTP on the test's own address: let it use the camera.
        args = [*CHROMIUM_ARGS, f"--unsafely-treat-insecure-origin-as-secure={settings.public_url}"]
        at_home = tmp_path / "chromium-at-home"
        at_home.write_text(f'#!/bin/sh\nexec {IP} netns exec {home.patient_ns} {CHROMIUM} "$@"\n')
        at_home.chmod(0o700)
        for executable in (at_home, CHROMIUM):
            browsers.append(
                await playwright_instance.chromium.launch(
                    executable_path=str(executable), headless=True, args=args
                )
            )
        opened: list[Any] = []

        async def new_page(**options: Any) -> Any:
            # The first page is the patient's (at home), the next the prescriber's.
            browser = browsers[min(len(opened), 1)]
            context = await browser.new_context(
                base_url=settings.public_url,
                permissions=["camera", "microphone"],
                **({"viewport": {"width": 1280, "height": 800}} | options),
            )
            context.set_default_timeout(15_000)
            await context.add_init_script(RECORD_PEERS)
            page = await context.new_page()
            page.console_errors = []
            page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
            opened.append(page)
            return page

        visit_id, patient, prescriber = await open_call(new_page, client, cast, clock)
        yield home, visit_id, patient, prescriber
    finally:
        for browser in browsers:
            await browser.close()
        if web is not None:
            await web.close()
        home.down()


async def test_a_patient_on_a_weak_connection_is_told_and_can_switch_to_audio_only(
    playwright_instance: Any, client: Any, cast: Cast, clock: Any, settings: Any, tmp_path: Path
) -> None:
    async with call_from_home(playwright_instance, client, cast, clock, settings, tmp_path) as (
        home,
        visit_id,
        patient,
        _prescriber,
    ):
        assert await patient.evaluate(SENDING_VIDEO)

        home.lossy(25)
        note = patient.get_by_text("Your connection is weak right now")
        await note.wait_for(timeout=20_000)
        switch = patient.get_by_role("button", name="Switch to audio only")
        await switch.click()
        await patient.get_by_role("button", name="Turn video back on").wait_for()
        assert not await patient.evaluate(SENDING_VIDEO)

        await login(client, cast.bob)
        events = (await (await client.get(f"/api/visits/{visit_id}/events")).json())["events"]
        poor = [e for e in events if e["kind"] == "call_quality" and e["detail"]["poor"]]
        assert any(e["role"] == "patient" for e in poor)
        assert all(e["detail"]["loss_percent"] is not None for e in poor)
        assert patient.console_errors == []


async def test_the_call_goes_on_when_the_patients_address_changes(
    playwright_instance: Any, client: Any, cast: Cast, clock: Any, settings: Any, tmp_path: Path
) -> None:
    async with call_from_home(playwright_instance, client, cast, clock, settings, tmp_path) as (
        home,
        _visit_id,
        patient,
        prescriber,
    ):
        changed = time.monotonic()
        home.move_patient(3)
        await assert_video_flows(prescriber, "remote-video")
        await assert_video_flows(patient, "remote-video")
        took = time.monotonic() - changed
        print(f"video flowing both ways again {took:.1f} s after the address changed")
        assert took < 5
        assert patient.console_errors == [] and prescriber.console_errors == []
