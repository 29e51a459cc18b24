"""Web layer: the pydantic models of the JSON API, one module per area.

Request models parse at the edge (`telehealth.http.schema`); response models shape what the
handlers send. Both generate `/api/openapi.json`. Shared shapes live here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from telehealth.db import MAX_ROW_ID
from telehealth.timefmt import iso

# A row id in a body: a whole number (never a string or a bool) from 1 to MAX_ROW_ID.
RowId = Annotated[int, Field(strict=True, ge=1, le=MAX_ROW_ID)]
# An instant in a response, written as the API always has (timefmt.iso: +00:00, not Z).
Instant = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]


class Request(BaseModel):
    """A request body or query: unknown fields are ignored, as the API always has."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Reply(BaseModel):
    """A response body."""

    model_config = ConfigDict(frozen=True)


class ErrorDetail(Reply):
    """What went wrong and what to do; some errors add fields (such as the current note)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    code: str
    message: str
    field: str | None = None


class Error(Reply):
    """Every error: {"error": {"code", "message", "field"?}}."""

    error: ErrorDetail
