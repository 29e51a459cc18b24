"""Web layer: request and response models of a video visit's HTTP side (check-in, admit,
complete, ICE servers, call history) and of the pre-call connection test."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import PlainSerializer, WithJsonSchema, field_validator

from telehealth.http.models import Reply, Request

# A time as JSON has always carried it here: datetime.isoformat(), with its offset.
IsoTime = Annotated[
    datetime,
    PlainSerializer(lambda value: value.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class CheckIn(Request):
    """Where the patient is now: a two-letter US state, or "outside_us"."""

    location_state: str | None = None

    @field_validator("location_state", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str):
            raise ValueError("location_state must be a two-letter US state, such as NY.")
        return value


class CallStatus(Reply):
    """The visit's status after the change."""

    status: str


class IceServer(Reply):
    """One RTCIceServer: STUN URLs, or TURN URLs with a short-lived credential."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


class IceServers(Reply):
    """What to pass to RTCPeerConnection; the credentials stop working at `expires_at`."""

    iceServers: list[IceServer]
    iceTransportPolicy: Literal["all", "relay"]
    expires_at: IsoTime


class CallEvent(Reply):
    at: IsoTime
    kind: str
    role: str | None
    actor_id: int | None
    detail: dict[str, Any]


class CallEvents(Reply):
    """The visit's call history, oldest first."""

    events: list[CallEvent]


_OFFER = 'Send the browser\'s offer as {"sdp", "type"}.'


class PrecallOffer(Request):
    """The browser's offer (non-trickle: its candidates are in the SDP)."""

    sdp: str
    type: str

    @field_validator("sdp", "type", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(_OFFER)
        return value


class PrecallAnswer(Reply):
    """The server peer's answer; the test ends by itself after `expires_in` seconds."""

    id: str
    sdp: str
    type: str
    expires_in: int
