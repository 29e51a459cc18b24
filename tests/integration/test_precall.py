"""The pre-call connection test, driven by a real aiortc peer playing the browser."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from av import VideoFrame

from telehealth.keys import PRECALL
from tests.builders import login
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)

WIDTH, HEIGHT = 320, 176


class SmallCamera(VideoStreamTrack):
    """A camera with an unusual frame size, so the echo is recognisably ours."""

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=WIDTH, height=HEIGHT)
        for plane in frame.planes:
            plane.update(bytes([90]) * plane.buffer_size)
        frame.pts = pts
        frame.time_base = fractions.Fraction(time_base.numerator, time_base.denominator)
        return frame


@dataclass
class Browser:
    pc: Any
    channel: Any
    remote: asyncio.Future[Any]


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    made: list[Browser] = []
    yield made
    for browser in made:
        await browser.pc.close()


async def offer(browsers: list[Browser]) -> tuple[Browser, dict[str, str]]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(SmallCamera())
    channel = pc.createDataChannel("rtt")
    remote: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda track: remote.done() or remote.set_result(track))
    await pc.setLocalDescription(await pc.createOffer())
    browser = Browser(pc, channel, remote)
    browsers.append(browser)
    return browser, {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}


async def test_patient_gets_own_video_back_and_a_round_trip_time(
    client: Any, cast: Any, browsers: list[Browser]
) -> None:
    await login(client, cast.alice)
    browser, body = await offer(browsers)

    response = await client.post("/api/precall/offer", json=body)

    assert response.status == 201, await response.text()
    answer = await response.json()
    assert answer["type"] == "answer"
    assert answer["id"]
    await browser.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await eventually(lambda: browser.pc.connectionState == "connected", timeout=15)
    track = await asyncio.wait_for(browser.remote, 10)
    assert track.kind == "video"
    frame = await asyncio.wait_for(track.recv(), 10)
    assert (frame.width, frame.height) == (WIDTH, HEIGHT)

    echoes: asyncio.Queue[str] = asyncio.Queue()
    browser.channel.on("message", echoes.put_nowait)
    await eventually(lambda: browser.channel.readyState == "open", timeout=15)
    browser.channel.send("ping 1 12345.5")
    assert await asyncio.wait_for(echoes.get(), 5) == "ping 1 12345.5"


async def test_connection_test_needs_a_signed_in_browser(client: Any, cast: Any) -> None:
    response = await client.post("/api/precall/offer", json={"sdp": "v=0", "type": "offer"})

    assert response.status == 401


async def test_a_malformed_offer_is_refused_without_keeping_a_peer(
    client: Any, cast: Any, app: Any
) -> None:
    await login(client, cast.alice)

    garbage = await client.post("/api/precall/offer", json={"sdp": "not sdp", "type": "offer"})
    huge = await client.post(
        "/api/precall/offer", json={"sdp": "v=0\r\n" + "a" * 70_000, "type": "offer"}
    )
    answer = await client.post("/api/precall/offer", json={"sdp": "v=0", "type": "answer"})

    assert [garbage.status, huge.status, answer.status] == [422, 422, 422]
    assert (await garbage.json())["error"]["code"] == "bad_offer"
    assert len(app[PRECALL]) == 0


async def test_beyond_the_configured_number_of_tests_the_next_is_told_when_to_try_again(
    client: Any, new_client: Any, cast: Any, app: Any, browsers: list[Browser]
) -> None:
    app[PRECALL].max_peers = 1
    await login(client, cast.alice)
    other = await new_client()
    await login(other, cast.dana)
    _, first = await offer(browsers)
    _, second = await offer(browsers)

    assert (await client.post("/api/precall/offer", json=first)).status == 201
    refused = await other.post("/api/precall/offer", json=second)

    assert refused.status == 503
    error = (await refused.json())["error"]
    assert error["code"] == "precall_busy"
    # Alice's test ends within its two minutes: that is when to come back.
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 120
    assert error["retry_after"] == wait
    assert f"Try again in {wait} seconds" in error["message"]


async def test_one_account_cannot_take_more_than_its_share_of_the_tests(
    client: Any, new_client: Any, cast: Any, app: Any, browsers: list[Browser]
) -> None:
    registry = app[PRECALL]
    registry.max_peers = 3
    assert registry.per_owner == 2  # TELEHEALTH_PRECALL_PEERS_PER_ACCOUNT's default
    await login(client, cast.alice)
    alices = []
    for _ in range(3):  # a third tab, or a reload before the page said goodbye
        _, body = await offer(browsers)
        response = await client.post("/api/precall/offer", json=body)
        assert response.status == 201
        alices.append((await response.json())["id"])

    # Her newest two run; the oldest was ended to make room for the third.
    assert [peer_id in registry for peer_id in alices] == [False, True, True]
    assert (await client.delete(f"/api/precall/{alices[0]}")).status == 404
    assert len(registry) == 2

    # Bob still gets a test while Alice holds her share, and his works end to end.
    bob = await new_client()
    await login(bob, cast.bob)
    browser, body = await offer(browsers)
    response = await bob.post("/api/precall/offer", json=body)
    assert response.status == 201, await response.text()
    answer = await response.json()
    await browser.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await eventually(lambda: browser.pc.connectionState == "connected", timeout=15)
    assert (await asyncio.wait_for(browser.remote, 10)).kind == "video"


async def test_closing_the_test_ends_the_server_peer_and_only_its_owner_may_close_it(
    client: Any, new_client: Any, cast: Any, app: Any, browsers: list[Browser]
) -> None:
    await login(client, cast.alice)
    _, body = await offer(browsers)
    peer_id = (await (await client.post("/api/precall/offer", json=body)).json())["id"]
    other = await new_client()
    await login(other, cast.bob)

    stranger = await other.delete(f"/api/precall/{peer_id}")
    assert stranger.status == 404
    assert peer_id in app[PRECALL]

    closed = await client.delete(f"/api/precall/{peer_id}")
    assert closed.status == 204
    assert peer_id not in app[PRECALL]
    assert (await client.delete(f"/api/precall/{peer_id}")).status == 404


async def test_an_abandoned_test_is_closed_after_its_time_limit(
    client: Any, cast: Any, app: Any, browsers: list[Browser]
) -> None:
    app[PRECALL].max_age_seconds = 0.3
    await login(client, cast.alice)
    _, body = await offer(browsers)

    assert (await client.post("/api/precall/offer", json=body)).status == 201

    await eventually(lambda: len(app[PRECALL]) == 0)


async def test_shutting_the_server_down_closes_every_test_peer(
    client: Any, cast: Any, app: Any, server: Any, browsers: list[Browser]
) -> None:
    await login(client, cast.alice)
    _, body = await offer(browsers)
    assert (await client.post("/api/precall/offer", json=body)).status == 201
    registry = app[PRECALL]

    await server.close()

    assert len(registry) == 0


async def test_starting_the_test_over_and_over_is_rate_limited(client: Any, cast: Any) -> None:
    await login(client, cast.alice)
    statuses = [
        (await client.post("/api/precall/offer", json={"sdp": "x", "type": "offer"})).status
        for _ in range(11)
    ]

    assert statuses[:10] == [422] * 10
    assert statuses[10] == 429
