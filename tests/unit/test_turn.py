"""TURN REST API credentials, as coturn's use-auth-secret checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

from telehealth.auth.turn import ice_config, turn_credential, turn_username

NOW = datetime(2026, 11, 27, 22, 0, 0, 400000, tzinfo=UTC)


def test_the_username_is_the_expiry_time_and_the_user_id():
    assert turn_username(42, datetime(2026, 1, 1, tzinfo=UTC)) == "1767225600:42"


def test_the_credential_is_base64_hmac_sha1_of_the_username():
    expected = base64.b64encode(hmac.new(b"s3cret", b"1767225600:42", hashlib.sha1).digest())
    assert turn_credential("s3cret", "1767225600:42") == expected.decode()


def test_a_known_vector():
    # HMAC-SHA1("secret", "1:1"), computed independently with openssl.
    assert turn_credential("secret", "1:1") == "Tbc9JfwxEj5C5bA+0rLVi7xlNj8="


def test_ice_config_lists_stun_then_turn_with_credentials_that_expire():
    config = ice_config(
        user_id=7,
        now=NOW,
        stun_urls=["stun:a:3478"],
        turn_urls=["turn:a:3478", "turns:a:5349"],
        turn_secret="k",
        ttl_seconds=3600,
    )
    assert config.expires_at == datetime(2026, 11, 27, 23, 0, 0, tzinfo=UTC)
    stun, turn = config.servers
    assert stun == {"urls": ["stun:a:3478"]}
    assert turn["urls"] == ["turn:a:3478", "turns:a:5349"]
    assert turn["username"] == f"{int(config.expires_at.timestamp())}:7"
    assert turn["credential"] == turn_credential("k", turn["username"])
    assert config.wire()["expires_at"] == "2026-11-27T23:00:00+00:00"


def test_without_a_secret_no_turn_server_is_offered():
    config = ice_config(
        user_id=7, now=NOW, stun_urls=[], turn_urls=["turn:a"], turn_secret=None, ttl_seconds=60
    )
    assert config.servers == []
