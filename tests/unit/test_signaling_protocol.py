"""The signaling wire format: shapes and sizes, normalised, unknown fields dropped."""

from __future__ import annotations

import pytest

from telehealth.signaling.protocol import (
    MAX_SDP_BYTES,
    ProtocolError,
    first_argument,
    other_role,
    parse_media_state,
    parse_signal,
    parse_visit_id,
)


def test_a_visit_id_is_a_positive_whole_number():
    assert parse_visit_id({"visit_id": 7, "room": "visit:9"}) == 7
    for bad in (
        {"visit_id": "7"},
        {"visit_id": 0},
        {"visit_id": -1},
        {"visit_id": True},
        {"visit_id": 1.5},
        {"visit_id": 2**64},
        {},
        [7],
        "7",
        None,
    ):
        with pytest.raises(ProtocolError):
            parse_visit_id(bad)


def test_an_offer_is_relayed_with_its_sender_and_without_unknown_fields():
    signal = parse_signal(
        {
            "visit_id": 3,
            "to": "everyone",
            "description": {"type": "offer", "sdp": "v=0\r\n", "extra": 1},
        }
    )
    assert signal.wire("prescriber") == {
        "visit_id": 3,
        "from": "prescriber",
        "description": {"type": "offer", "sdp": "v=0\r\n"},
    }


def test_a_candidate_keeps_the_browser_field_names_on_the_wire():
    signal = parse_signal(
        {
            "visit_id": 3,
            "candidate": {
                "candidate": "candidate:1 1 udp 1 192.0.2.2 5000 typ host",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
                "usernameFragment": "abcd",
                "junk": "x",
            },
        }
    )
    assert signal.wire("patient")["candidate"] == {
        "candidate": "candidate:1 1 udp 1 192.0.2.2 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "abcd",
    }


def test_the_end_of_candidates_marker_and_a_rollback_are_allowed():
    assert parse_signal({"visit_id": 1, "candidate": {"candidate": "", "sdpMid": "0"}})
    rollback = parse_signal({"visit_id": 1, "description": {"type": "rollback"}})
    assert rollback.description is not None and rollback.description.sdp == ""


def test_an_sdp_of_exactly_64_kib_passes_and_one_byte_more_is_too_large():
    assert parse_signal(
        {"visit_id": 1, "description": {"type": "answer", "sdp": "a" * MAX_SDP_BYTES}}
    )
    with pytest.raises(ProtocolError) as refused:
        parse_signal(
            {"visit_id": 1, "description": {"type": "answer", "sdp": "a" * (MAX_SDP_BYTES + 1)}}
        )
    assert refused.value.code == "too_large"


def test_the_sdp_size_is_counted_in_bytes_not_characters():
    with pytest.raises(ProtocolError):
        parse_signal(
            {"visit_id": 1, "description": {"type": "offer", "sdp": "é" * (MAX_SDP_BYTES // 2 + 1)}}
        )


@pytest.mark.parametrize(
    "payload",
    [
        {"visit_id": 1},
        {
            "visit_id": 1,
            "description": {"type": "offer", "sdp": "x"},
            "candidate": {"candidate": "", "sdpMid": "0"},
        },
        {"visit_id": 1, "description": {"type": "hello", "sdp": "x"}},
        {"visit_id": 1, "description": {"type": "offer", "sdp": ""}},
        {"visit_id": 1, "description": {"type": "offer", "sdp": 5}},
        {"visit_id": 1, "description": "offer"},
        {"visit_id": 1, "candidate": {"candidate": "candidate:1"}},
        {"visit_id": 1, "candidate": {"candidate": "c" * 1025, "sdpMid": "0"}},
        {"visit_id": 1, "candidate": {"candidate": "c", "sdpMid": "m" * 65}},
        {"visit_id": 1, "candidate": {"candidate": "c", "sdpMLineIndex": "0"}},
        {"visit_id": 1, "candidate": {"candidate": "c", "sdpMLineIndex": 5000}},
        {"visit_id": 1, "candidate": {"candidate": None, "sdpMid": "0"}},
    ],
)
def test_malformed_signals_are_refused(payload):
    with pytest.raises(ProtocolError):
        parse_signal(payload)


def test_media_state_needs_a_boolean():
    assert parse_media_state({"visit_id": 2, "connected": False}).connected is False
    with pytest.raises(ProtocolError):
        parse_media_state({"visit_id": 2, "connected": 1})


def test_an_event_takes_exactly_one_argument():
    assert first_argument(({"visit_id": 1},)) == {"visit_id": 1}
    for args in ((), ({}, {})):
        with pytest.raises(ProtocolError):
            first_argument(args)


def test_the_other_role_of_each_participant():
    assert other_role("patient") == "prescriber"
    assert other_role("prescriber") == "patient"
