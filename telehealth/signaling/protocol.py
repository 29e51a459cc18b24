"""Domain (pure): the signaling wire format, checked for shape and size.

Every client payload goes through one parser here before the server acts on it. Parsers
keep the fields they know, drop the rest, and raise `ProtocolError` (an `InvalidInput`)
with a message a developer can act on. The server never interprets SDP beyond its size.
Browser field names (`sdpMid`, `sdpMLineIndex`, `usernameFragment`) appear only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telehealth.db import is_row_id
from telehealth.errors import DomainError, InvalidInput, error_body
from telehealth.visits.quality import QualitySample

MAX_SDP_BYTES = 64 * 1024
MAX_CANDIDATE_CHARS = 1024
MAX_MID_CHARS = 64
MAX_UFRAG_CHARS = 256
MAX_MLINE_INDEX = 1023
DESCRIPTION_TYPES = frozenset({"offer", "answer", "pranswer", "rollback"})
ROLES = ("patient", "prescriber")
# The Socket.IO namespace of video visits.
NAMESPACE = "/visits"

# Events a client may send on the /visits namespace; anything else is refused.
CLIENT_EVENTS = frozenset(
    {"join", "leave", "admit", "signal", "media_state", "call_quality", "end", "watch_dashboard"}
)


class ProtocolError(InvalidInput):
    code = "invalid_message"
    message = "The message is not valid."


def other_role(role: str) -> str:
    return "prescriber" if role == "patient" else "patient"


def _mapping(payload: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(payload, Mapping):
        raise ProtocolError(f"{what} must be a JSON object.")
    return payload


def parse_visit_id(payload: Any) -> int:
    """The `visit_id` of any visit-scoped event: a positive whole number (not a string)."""
    value = _mapping(payload, "The payload").get("visit_id")
    if not is_row_id(value):
        raise ProtocolError("visit_id must be a positive whole number.", field="visit_id")
    return value


@dataclass(frozen=True)
class Description:
    type: str
    sdp: str

    def wire(self) -> dict[str, Any]:
        return {"type": self.type, "sdp": self.sdp}


@dataclass(frozen=True)
class Candidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None

    def wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }
        if self.username_fragment is not None:
            data["usernameFragment"] = self.username_fragment
        return data


@dataclass(frozen=True)
class Signal:
    visit_id: int
    description: Description | None = None
    candidate: Candidate | None = None

    def wire(self, sender_role: str) -> dict[str, Any]:
        """The relayed form: the same fields, normalised, plus who sent it."""
        data: dict[str, Any] = {"visit_id": self.visit_id, "from": sender_role}
        if self.description is not None:
            data["description"] = self.description.wire()
        if self.candidate is not None:
            data["candidate"] = self.candidate.wire()
        return data


def _optional_str(data: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise ProtocolError(f"candidate.{key} must be text of at most {limit} characters.")
    return value


def parse_description(value: Any) -> Description:
    data = _mapping(value, "description")
    kind = data.get("type")
    if kind not in DESCRIPTION_TYPES:
        raise ProtocolError("description.type must be offer, answer, pranswer or rollback.")
    sdp = data.get("sdp", "")
    if sdp is None:
        sdp = ""
    if not isinstance(sdp, str):
        raise ProtocolError("description.sdp must be text.")
    if len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise ProtocolError(
            f"description.sdp is larger than {MAX_SDP_BYTES // 1024} KiB.", code="too_large"
        )
    if kind != "rollback" and not sdp:
        raise ProtocolError("description.sdp is required for an offer or an answer.")
    return Description(str(kind), sdp)


def parse_candidate(value: Any) -> Candidate:
    data = _mapping(value, "candidate")
    text = data.get("candidate")
    # An empty string is the browser's end-of-candidates marker: relay it.
    if not isinstance(text, str):
        raise ProtocolError("candidate.candidate must be text.")
    if len(text) > MAX_CANDIDATE_CHARS:
        raise ProtocolError(
            f"candidate.candidate is longer than {MAX_CANDIDATE_CHARS} characters.",
            code="too_large",
        )
    index = data.get("sdpMLineIndex")
    if index is not None and (
        isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_MLINE_INDEX
    ):
        raise ProtocolError(f"candidate.sdpMLineIndex must be 0 to {MAX_MLINE_INDEX}.")
    mid = _optional_str(data, "sdpMid", MAX_MID_CHARS)
    if mid is None and index is None and text:
        raise ProtocolError("candidate needs sdpMid or sdpMLineIndex.")
    return Candidate(
        candidate=text,
        sdp_mid=mid,
        sdp_mline_index=index,
        username_fragment=_optional_str(data, "usernameFragment", MAX_UFRAG_CHARS),
    )


def parse_signal(payload: Any) -> Signal:
    """`{"visit_id", "description"}` or `{"visit_id", "candidate"}`: exactly one of the two."""
    data = _mapping(payload, "The payload")
    visit_id = parse_visit_id(data)
    has_description = data.get("description") is not None
    has_candidate = data.get("candidate") is not None
    if has_description == has_candidate:
        raise ProtocolError("A signal carries exactly one of description or candidate.")
    if has_description:
        return Signal(visit_id, description=parse_description(data["description"]))
    return Signal(visit_id, candidate=parse_candidate(data["candidate"]))


@dataclass(frozen=True)
class MediaState:
    visit_id: int
    connected: bool


def parse_media_state(payload: Any) -> MediaState:
    data = _mapping(payload, "The payload")
    visit_id = parse_visit_id(data)
    connected = data.get("connected")
    if not isinstance(connected, bool):
        raise ProtocolError("connected must be true or false.", field="connected")
    return MediaState(visit_id, connected)


@dataclass(frozen=True)
class CallQualityReport:
    visit_id: int
    sample: QualitySample


def _measure(data: Mapping[str, Any], name: str, upper: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= upper:
        raise ProtocolError(f"{name} must be a number from 0 to {upper:g}, or null.", field=name)
    return float(value)


def parse_call_quality(payload: Any) -> CallQualityReport:
    """{"visit_id", "rtt_ms", "loss_percent", "bitrate_kbps", "poor"}: numbers only."""
    data = _mapping(payload, "The payload")
    visit_id = parse_visit_id(data)
    unknown = set(data) - {"visit_id", "rtt_ms", "loss_percent", "bitrate_kbps", "poor"}
    if unknown:
        raise ProtocolError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    poor = data.get("poor")
    if not isinstance(poor, bool):
        raise ProtocolError("poor must be true or false.", field="poor")
    rtt = _measure(data, "rtt_ms", 60_000)
    loss = _measure(data, "loss_percent", 100)
    bitrate = _measure(data, "bitrate_kbps", 1_000_000)
    sample = QualitySample(
        rtt_ms=None if rtt is None else round(rtt),
        loss_percent=None if loss is None else round(loss, 1),
        bitrate_kbps=None if bitrate is None else round(bitrate),
        poor=poor,
    )
    return CallQualityReport(visit_id, sample)


def first_argument(args: tuple[Any, ...]) -> Any:
    """socket.io delivers zero or more arguments; our events take exactly one object."""
    if len(args) != 1:
        raise ProtocolError("Send exactly one JSON object with the event.")
    return args[0]


def error_ack(error: DomainError) -> dict[str, Any]:
    """A refused event's ack: the error object of an HTTP error answer (same codes)."""
    return {"ok": False, "error": error_body(error)}
