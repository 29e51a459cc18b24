"""Web layer: typed access to what the middleware puts on each request."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.errors import InvalidInput, Unauthenticated

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


async def json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    return body


def int_param(value: str | None, name: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required.", field=name)
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number.", field=name) from None


def path_id(request: web.Request, name: str = "id") -> int:
    from telehealth.errors import NotFound

    try:
        return int(request.match_info[name])
    except (KeyError, ValueError):
        raise NotFound() from None


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
