"""A real coturn with `use-auth-secret` accepts the credentials from
GET /api/visits/{id}/ice-servers, and refuses a tampered or expired one."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from tests.builders import Cast, login, make_visit
from tests.coturn import Coturn

pytestmark = pytest.mark.timeout(60)


async def allocate(port: int, username: str, password: str) -> tuple[str, int]:
    """A TURN Allocate over UDP with long-term credentials; the relayed address on success."""
    transport, _protocol = await create_turn_endpoint(
        asyncio.DatagramProtocol,
        ("127.0.0.1", port),
        username=username,
        password=password,
        lifetime=60,
    )
    try:
        relayed: tuple[str, int] = transport.get_extra_info("sockname")
        return relayed
    finally:
        transport.close()


async def turn_entry(client, visit_id: int) -> dict[str, str]:
    response = await client.get(f"/api/visits/{visit_id}/ice-servers")
    assert response.status == 200
    (turn,) = (await response.json())["iceServers"]
    return turn  # type: ignore[no-any-return]


async def test_coturn_accepts_visit_credentials_and_refuses_tampered_or_expired_ones(
    coturn: Coturn, client, settings, sessionmaker, cast: Cast, clock
):
    settings.turn_urls = [f"turn:127.0.0.1:{coturn.port}?transport=udp"]
    settings.turn_secret = coturn.secret
    settings.turn_ttl_seconds = 600
    # coturn judges expiry by the machine's real clock, even when the suite's clock is pinned.
    clock.set(datetime.now(UTC).replace(microsecond=0))
    # A long visit, so two hours ago (below) was inside its call window too.
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now - timedelta(minutes=150), minutes=300
    )
    await login(client, cast.alice)

    turn = await turn_entry(client, visit_id)
    assert turn["urls"] == settings.turn_urls
    relayed = await allocate(coturn.port, turn["username"], turn["credential"])
    assert relayed[0] == "127.0.0.1" and relayed[1] > 0

    tampered = turn["credential"][:-2] + ("A=" if not turn["credential"].endswith("A=") else "B=")
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(coturn.port, turn["username"], tampered)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401

    other_user = f"{turn['username'].split(':')[0]}:{cast.bob.id}"
    with pytest.raises(stun.TransactionFailed):
        await allocate(coturn.port, other_user, turn["credential"])

    # Credentials issued two hours ago, with a ten-minute lifetime, have expired.
    clock.advance(hours=-2)
    expired = await turn_entry(client, visit_id)
    clock.advance(hours=2)
    assert int(expired["username"].split(":")[0]) < clock.now.timestamp()
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(coturn.port, expired["username"], expired["credential"])
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


async def test_the_turn_secret_never_leaves_the_server(
    client, settings, sessionmaker, cast: Cast, clock
):
    settings.turn_urls = ["turn:127.0.0.1:3478"]
    settings.turn_secret = "do-not-leak-" + secrets.token_hex(8)
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.alice)
    response = await client.get(f"/api/visits/{visit_id}/ice-servers")
    assert response.status == 200
    assert settings.turn_secret not in await response.text()
