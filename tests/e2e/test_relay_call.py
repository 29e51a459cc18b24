"""Relay-only mode in two real browsers: with TELEHEALTH_ICE_TRANSPORT_POLICY=relay both
call pages connect through a real coturn and neither learns the other's address."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from telehealth.config import IceTransportPolicy
from tests.builders import PASSWORD, Cast
from tests.coturn import Coturn
from tests.e2e.test_video_visit import open_call

pytestmark = pytest.mark.e2e

# Every RTCPeerConnection a page makes, kept for the test to read its statistics from.
RECORD_PEERS = """(() => {
  const Original = window.RTCPeerConnection;
  window.__peers = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__peers.push({ pc, config: args[0] || {} });
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();"""

# The call's selected candidate pair (local and remote type) and every remote candidate
# type the page was told about, from the live connection's statistics.
SELECTED_PAIR = """async () => {
  const live = window.__peers.filter((p) => p.pc.connectionState === "connected");
  const { pc, config } = live[live.length - 1];
  const stats = [...(await pc.getStats()).values()];
  const byId = Object.fromEntries(stats.map((s) => [s.id, s]));
  const transport = stats.find((s) => s.type === "transport" && s.selectedCandidatePairId);
  const pair = byId[transport.selectedCandidatePairId];
  return {
    policy: config.iceTransportPolicy,
    local: byId[pair.localCandidateId].candidateType,
    remote: byId[pair.remoteCandidateId].candidateType,
    remoteTypes: stats.filter((s) => s.type === "remote-candidate").map((s) => s.candidateType),
    localTypes: stats.filter((s) => s.type === "local-candidate").map((s) => s.candidateType),
  };
}"""


async def test_relay_policy_call_in_two_browsers_goes_through_turn_only(
    new_page: Any, client: Any, cast: Cast, clock: Any, settings: Any, coturn: Coturn
) -> None:
    settings.turn_urls = [coturn.url("udp")]
    settings.turn_secret = coturn.secret
    settings.ice_transport_policy = IceTransportPolicy.relay

    async def recording_page(**options: Any) -> Any:
        page = await new_page(**options)
        await page.context.add_init_script(RECORD_PEERS)
        return page

    _visit_id, patient, prescriber = await open_call(recording_page, client, cast, clock)
    for page in (patient, prescriber):
        seen = await page.evaluate(SELECTED_PAIR)
        assert seen["policy"] == "relay"
        assert (seen["local"], seen["remote"]) == ("relay", "relay")
        assert set(seen["remoteTypes"]) == {"relay"}
        assert set(seen["localTypes"]) == {"relay"}
        assert page.console_errors == []


async def test_relay_policy_precall_test_in_the_browser_goes_through_turn(
    new_page: Any, cast: Cast, clock: Any, settings: Any, coturn: Coturn
) -> None:
    settings.turn_urls = [coturn.url("udp")]
    settings.turn_secret = coturn.secret
    settings.ice_transport_policy = IceTransportPolicy.relay
    clock.set(datetime.now(UTC).replace(microsecond=0))  # coturn checks the real clock
    page = await new_page()
    await page.context.add_init_script(RECORD_PEERS)
    await page.goto("/login?next=/precall")
    await page.get_by_label("Username").fill("alice")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/precall")

    await page.get_by_role("button", name="Start the test").click()
    await page.get_by_text("Yes: your video came back").wait_for(timeout=30_000)
    seen = await page.evaluate(SELECTED_PAIR)
    assert seen["policy"] == "relay"
    # Both the browser and the server's test peer offered relayed addresses only.
    assert (seen["local"], seen["remote"]) == ("relay", "relay")
    assert set(seen["remoteTypes"]) == {"relay"}
    assert page.console_errors == []
