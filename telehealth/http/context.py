"""Web layer: typed access to what the middleware puts on each request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.errors import InvalidInput, Unauthenticated
from telehealth.visits.access import MAX_ROW_ID

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Any] = web.AppKey("clock", object)


def settings_of(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def now(request: web.Request) -> datetime:
    clock = request.app[CLOCK]
    value: datetime = clock()
    return value


def db(request: web.Request) -> AsyncSession:
    session: AsyncSession = request["db"]
    return session


def actor_or_none(request: web.Request) -> Actor | None:
    actor: Actor | None = request.get("actor")
    return actor


def require_actor(request: web.Request) -> Actor:
    actor = actor_or_none(request)
    if actor is None:
        raise Unauthenticated()
    return actor


MAX_ID = MAX_ROW_ID


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    if _has_nul(body):
        raise InvalidInput("Text may not contain NUL characters. Remove them and try again.")
    return body


def int_param(value: str | None, name: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required.", field=name)
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number.", field=name) from None
    if not 1 <= number <= MAX_ID:
        raise InvalidInput(f"{name} must be a whole number from 1 to {MAX_ID}.", field=name)
    return number


def path_id(request: web.Request, name: str = "id") -> int:
    from telehealth.errors import NotFound

    try:
        number = int(request.match_info[name])
    except (KeyError, ValueError):
        raise NotFound() from None
    if not 1 <= number <= MAX_ID:
        raise NotFound()  # exactly like a missing record
    return number


def client_address(request: web.Request) -> str | None:
    """The caller's address; behind a trusted proxy, the last hop it added."""
    if request.app[SETTINGS].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [h.strip() for h in forwarded.split(",") if h.strip()]
        if hops:
            return hops[-1][:64]
    return request.remote


def see_other(location: str) -> web.Response:
    """A 303 redirect returned as a response (so middleware can still set cookies on it)."""
    return web.Response(status=303, headers={"Location": location})
