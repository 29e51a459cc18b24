"""Two server processes share rooms and seats through Redis: the patient on one, the
prescriber on the other, and every notice crosses between them."""

from __future__ import annotations

import asyncio
import os
import socket

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from telehealth.app import create_app
from telehealth.keys import SIGNALING
from tests.builders import Cast, VisitsSocket, disconnected, free_port, make_visit, session_token
from tests.waiting import eventually

# Several processes with Redis is a production deployment, on PostgreSQL: tested on it alone.
pytestmark = [pytest.mark.timeout(60), pytest.mark.postgresql]

REDIS_URL = os.environ.get("TELEHEALTH_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
async def two_apps(settings, clock):
    """Two apps sharing Redis, each serving on its own port: [(app, url), (app, url)]."""
    if not _redis_reachable():
        message = "Redis is not reachable at 127.0.0.1:6379"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: a missing service is a failure)", pytrace=False)
        pytest.skip(message)
    servers = []
    for port in (free_port(), free_port()):
        shared = settings.model_copy(
            update={"redis_url": REDIS_URL, "port": port, "public_url": f"http://127.0.0.1:{port}"}
        )
        app = create_app(shared, clock=clock)
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
        bus = app[SIGNALING].bus
        assert bus is not None
        await asyncio.wait_for(bus.subscribed.wait(), 5)
        servers.append((server, shared.public_url))
    yield [(server.app, url) for server, url in servers]
    for server, _url in servers:
        await server.close()


@pytest.fixture
def two_servers(two_apps):
    """The two processes' URLs."""
    return [url for _app, url in two_apps]


async def socketio_listening(apps) -> None:
    """Until Redis counts each process's socket.io manager as subscribed to the shared
    channel (a manager subscribes when its process gets its first connection)."""
    import redis.asyncio as aioredis

    channel = apps[0][SIGNALING].sio.manager.channel
    client = aioredis.from_url(REDIS_URL, decode_responses=True)

    async def subscribers() -> bool:
        return dict(await client.pubsub_numsub(channel)).get(channel, 0) >= len(apps)

    try:
        await eventually(subscribers, what="every process listens on the shared channel")
    finally:
        await client.aclose()


async def test_a_call_is_relayed_between_two_processes(
    two_apps, two_servers, sessionmaker, cast: Cast, clock
):
    url_a, url_b = two_servers
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    alice = VisitsSocket(
        url_a, await session_token(sessionmaker, cast.alice, visit_id=visit, now=clock.now)
    )
    bob = VisitsSocket(url_b, await session_token(sessionmaker, cast.bob, now=clock.now))
    second_tab = VisitsSocket(
        url_b, await session_token(sessionmaker, cast.alice, visit_id=visit, now=clock.now)
    )
    try:
        await alice.connect()
        await bob.connect()
        await socketio_listening([app for app, _url in two_apps])
        await bob.call("join", {"visit_id": visit})
        await alice.call("join", {"visit_id": visit})
        assert await bob.wait_for("peer_joined") == [{"role": "patient"}]
        assert (await bob.wait_for("waiting_room"))[0]["visit_id"] == visit

        assert (await bob.call("admit", {"visit_id": visit}))["ok"] is True
        (admitted,) = await alice.wait_for("admitted")
        assert admitted["polite"] is True

        await bob.call(
            "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=0\r\n"}}
        )
        (offer,) = await alice.wait_for("signal")
        assert offer == {
            "visit_id": visit,
            "from": "prescriber",
            "description": {"type": "offer", "sdp": "v=0\r\n"},
        }
        await alice.call(
            "signal", {"visit_id": visit, "description": {"type": "answer", "sdp": "v=0\r\n"}}
        )
        (answer,) = await bob.wait_for("signal")
        assert answer["from"] == "patient"

        # Alice opens a second tab on the other process: the first is told and dropped.
        await second_tab.connect()
        assert (await second_tab.call("join", {"visit_id": visit}))["ok"] is True
        await alice.wait_for("replaced")
        assert await disconnected(alice)
        await bob.call(
            "signal", {"visit_id": visit, "description": {"type": "offer", "sdp": "v=1\r\n"}}
        )
        await second_tab.wait_for("signal")
        assert len(alice.received("signal")) == 1
        assert bob.received("peer_left") == []

        assert (await bob.call("end", {"visit_id": visit}))["status"] == "finished"
        assert await second_tab.wait_for("visit_ended") == [{"visit_id": visit}]
    finally:
        for sock in (alice, bob, second_tab):
            await sock.close()


async def joined_on_two_processes(urls, sessionmaker, cast: Cast, clock):
    """Alice (through her join link) on the first process, Bob on the second."""
    url_a, url_b = urls
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    alice_token = await session_token(sessionmaker, cast.alice, visit_id=visit, now=clock.now)
    alice = VisitsSocket(url_a, alice_token)
    bob = VisitsSocket(url_b, await session_token(sessionmaker, cast.bob, now=clock.now))
    await alice.connect()
    await bob.connect()
    assert (await bob.call("join", {"visit_id": visit}))["ok"]
    assert (await alice.call("join", {"visit_id": visit}))["ok"]
    await bob.wait_for("peer_joined")
    return visit, alice, alice_token, bob


async def test_signing_out_through_one_process_ends_the_call_held_on_the_other_at_once(
    two_servers, sessionmaker, cast: Cast, clock
):
    _visit, alice, alice_token, bob = await joined_on_two_processes(
        two_servers, sessionmaker, cast, clock
    )
    try:
        # Alice signs out through the second process; her socket lives on the first.
        async with aiohttp.ClientSession(headers={"Cookie": f"th_session={alice_token}"}) as http:
            response = await http.delete(f"{two_servers[1]}/api/session")
            assert response.status == 204

        # No signal sent and no clock moved: the first process heard it over Redis.
        assert (await alice.wait_for("error"))[-1]["error"]["code"] == "not_signed_in"
        assert await disconnected(alice)
        assert await bob.wait_for("peer_left") == [{"role": "patient"}]
        assert bob.sio.connected
    finally:
        for sock in (alice, bob):
            await sock.close()


async def test_cancelling_through_one_process_ends_the_call_on_both(
    two_servers, sessionmaker, cast: Cast, clock
):
    visit, alice, _token, bob = await joined_on_two_processes(
        two_servers, sessionmaker, cast, clock
    )
    scheduler_token = await session_token(sessionmaker, cast.sam, now=clock.now)
    try:
        async with aiohttp.ClientSession(
            headers={"Cookie": f"th_session={scheduler_token}"}
        ) as http:
            response = await http.post(
                f"{two_servers[1]}/api/visits/{visit}/cancel", json={"reason": "clinic closed"}
            )
            assert response.status == 200, await response.text()

        assert await alice.wait_for("visit_ended") == [{"visit_id": visit}]
        assert await bob.wait_for("visit_ended") == [{"visit_id": visit}]
        assert await disconnected(alice)  # her join-link session died with the visit
    finally:
        for sock in (alice, bob):
            await sock.close()


@pytest.fixture
def three_writes_a_minute(settings):
    """Both processes' call-history budget lowered to three writes per visit and account."""
    settings.signaling_writes_per_minute = 3


async def test_the_write_budget_of_a_visit_is_shared_by_every_process(
    three_writes_a_minute, two_servers, sessionmaker, cast: Cast, clock
):
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    token = await session_token(sessionmaker, cast.bob, now=clock.now)
    answers = []
    opened = []
    try:
        # Bob's new connections alternate between the processes; each would allow three.
        for url in two_servers * 3:
            sock = VisitsSocket(url, token)
            opened.append(sock)
            await sock.connect()
            answers.append(await sock.call("join", {"visit_id": visit}))
    finally:
        for sock in opened:
            await sock.close()
    assert [a["ok"] for a in answers] == [True, True, True, False, False, False]
    assert {a["error"]["code"] for a in answers[3:]} == {"rate_limited"}


async def _status_within(http: aiohttp.ClientSession, url: str, status: int) -> int:
    """The status of GET url, asked again for up to a second until it is `status` (a notice
    over Redis takes a moment; a session held in memory would last its 5 seconds)."""

    async def answers_status() -> bool:
        return (await http.get(url)).status == status

    await eventually(answers_status, timeout=1, what=f"GET {url} answers {status}")
    return status


async def test_a_session_held_in_memory_by_one_process_ends_when_another_signs_it_out(
    two_servers, sessionmaker, cast: Cast, clock
):
    url_a, url_b = two_servers
    token = await session_token(sessionmaker, cast.bob, now=clock.now)
    async with aiohttp.ClientSession(headers={"Cookie": f"th_session={token}"}) as http:
        for _ in range(2):  # the second is answered from the first process's memory
            assert (await http.get(f"{url_a}/api/me")).status == 200
        assert (await http.delete(f"{url_b}/api/session")).status == 204
        assert await _status_within(http, f"{url_a}/api/me", 401) == 401


async def test_deactivating_an_account_through_one_process_ends_its_sessions_in_the_other(
    two_servers, sessionmaker, cast: Cast, clock
):
    url_a, url_b = two_servers
    bob = await session_token(sessionmaker, cast.bob, now=clock.now)
    ada = await session_token(sessionmaker, cast.ada, now=clock.now)
    async with aiohttp.ClientSession(headers={"Cookie": f"th_session={bob}"}) as http:
        for _ in range(2):
            assert (await http.get(f"{url_a}/api/me")).status == 200
        async with aiohttp.ClientSession(headers={"Cookie": f"th_session={ada}"}) as admin:
            response = await admin.patch(f"{url_b}/api/users/{cast.bob.id}", json={"active": False})
            assert response.status == 200, await response.text()
        assert await _status_within(http, f"{url_a}/api/me", 401) == 401
