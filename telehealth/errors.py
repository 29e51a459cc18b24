"""Domain errors: raised by services, mapped to HTTP statuses and socket acks in one table."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. `code` is the stable snake_case name clients rely on."""

    code = "error"
    message = "Something went wrong."
    # True when the service already wrote the audit entry for this refusal.
    audited = False

    def __init__(self, message: str | None = None, *, code: str | None = None, **extra: Any):
        self.message = message or type(self).message
        if code:
            self.code = code
        self.extra = extra
        super().__init__(self.message)


class NotFound(DomainError):
    code = "not_found"
    message = "Not found."


class Unauthenticated(DomainError):
    code = "not_signed_in"
    message = "Sign in to continue."


class PermissionDenied(DomainError):
    """The caller is known but may not do this (the record itself is visible to them)."""

    code = "forbidden"
    message = "You are not allowed to do that."


class InvalidInput(DomainError):
    code = "invalid_input"
    message = "The request is not valid."


class Conflict(DomainError):
    code = "conflict"
    message = "That conflicts with the current state. Reload and try again."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    message = "That cannot be done in the visit's current state."


class RateLimited(DomainError):
    code = "rate_limited"
    message = "Too many attempts. Wait a moment and try again."


def error_body(error: DomainError) -> dict[str, Any]:
    """What a client is told of an error, over HTTP (`{"error": ...}`) and in socket acks:
    its code, its message, and what else it carries (`field` last, as clients expect it)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    body.update({k: v for k, v in error.extra.items() if k != "field"})
    if "field" in error.extra:
        body["field"] = error.extra["field"]
    return body
