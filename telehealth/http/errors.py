"""Web layer: the one table from domain errors to HTTP statuses.

The error object a client reads (`errors.error_body`: code, message, what else it carries)
is the same over HTTP and in the signaling server's socket acks; only HTTP has statuses.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
    error_body,
)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFound, 404),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (InvalidInput, 422),
    (RateLimited, 429),
    (Conflict, 409),
]
# Codes whose status differs from their class's.
STATUS_BY_CODE = {
    "locked_out": 429,
    "outside_availability": 422,
    "not_licensed_in_state": 422,
    "refills_not_allowed": 422,
    "precall_busy": 503,
    "sign_in_busy": 503,
}


def status_for(error: DomainError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def error_json(error: DomainError) -> dict[str, Any]:
    """The body of an error answer: `{"error": {"code", "message", ...}}`."""
    return {"error": error_body(error)}


def error_response(error: DomainError) -> web.Response:
    """The JSON answer to a refused API request, with `Retry-After` when the error says."""
    response = web.json_response(error_json(error), status=status_for(error))
    retry_after = error.extra.get("retry_after")
    if isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response
