"""Domain (pure): ICE server configuration with short-lived TURN credentials, for a call
participant (a visit's ICE servers, the socket's `admitted`) and for the pre-call test.

TURN REST API convention, as coturn's `use-auth-secret` checks it: the username is
`"<expiry unix time>:<user id>"` and the credential is base64(HMAC-SHA1(secret, username)).
The TURN server needs only the shared secret; nothing is stored per credential.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from telehealth.config import Settings


def turn_username(user_id: int, expires_at: datetime) -> str:
    return f"{int(expires_at.timestamp())}:{user_id}"


def turn_credential(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class IceConfig:
    servers: list[dict[str, Any]]
    expires_at: datetime
    # "all", or "relay": TURN only, so neither participant learns the other's address.
    transport_policy: str = "all"

    def wire(self) -> dict[str, Any]:
        return {
            "iceServers": self.servers,
            "iceTransportPolicy": self.transport_policy,
            "expires_at": self.expires_at.isoformat(),
        }


def ice_config(
    *,
    user_id: int,
    now: datetime,
    stun_urls: list[str],
    turn_urls: list[str],
    turn_secret: str | None,
    ttl_seconds: int,
    transport_policy: str = "all",
) -> IceConfig:
    """The RTCPeerConnection `iceServers` for one participant, valid for `ttl_seconds`.

    Every configured TURN URL (UDP, TCP, TLS) shares one short-lived credential: the
    browser tries them all and keeps what its network lets through."""
    expires_at = (now + timedelta(seconds=ttl_seconds)).astimezone(UTC).replace(microsecond=0)
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and turn_secret:
        username = turn_username(user_id, expires_at)
        servers.append(
            {
                "urls": list(turn_urls),
                "username": username,
                "credential": turn_credential(turn_secret, username),
            }
        )
    return IceConfig(servers, expires_at, transport_policy)


def ice_config_for(
    settings: Settings, *, user_id: int, now: datetime, ttl_seconds: int | None = None
) -> IceConfig:
    """`ice_config` with the servers, secret, lifetime and policy this practice configured."""
    return ice_config(
        user_id=user_id,
        now=now,
        stun_urls=settings.stun_urls,
        turn_urls=settings.turn_urls,
        turn_secret=settings.turn_secret,
        ttl_seconds=ttl_seconds or settings.turn_ttl_seconds,
        transport_policy=settings.ice_transport_policy.value,
    )


# Pre-call TURN credentials outlive the longest test (max_age_seconds) with room to spare.
PRECALL_TURN_TTL_SECONDS = 600


def precall_ice(settings: Settings, user_id: int, now: datetime) -> IceConfig:
    """The ICE servers a pre-call test uses (the browser's and the server's side alike)."""
    ttl = min(settings.turn_ttl_seconds, PRECALL_TURN_TTL_SECONDS)
    return ice_config_for(settings, user_id=user_id, now=now, ttl_seconds=ttl)
