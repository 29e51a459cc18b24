"""Web layer: typed access to what the middleware puts on each request."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import addresses
from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.db import MAX_ROW_ID
from telehealth.errors import InvalidInput, NotFound, Unauthenticated
from telehealth.keys import CLOCK, SETTINGS


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


MAX_JSON_DEPTH = 32


def _check_json(body: Any) -> None:
    """Walk a parsed body without recursion: refuse one nested deeper than MAX_JSON_DEPTH
    or holding a NUL character (PostgreSQL cannot store it)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise InvalidInput(
                    "Text may not contain NUL characters. Remove them and try again."
                )
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise InvalidInput(
                f"The request body is nested too deeply (at most {MAX_JSON_DEPTH} levels).",
                code="too_deep",
            )
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        stack.extend((item, depth + 1) for item in items)


async def json_body(request: web.Request) -> dict[str, Any]:
    """The one JSON reader: every API handler's body goes through here, signed in or not."""
    if not request.body_exists:
        return {}
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        # json.loads recurses per level: a body of 100,000 "[" exhausts the stack.
        raise InvalidInput("The request body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise InvalidInput("The request body must be a JSON object.")
    _check_json(body)
    return body


async def form_body(request: web.Request) -> MultiDictProxy[Any]:
    """The one form reader (cached on the request): a body that is not the UTF-8 its
    content type declares is refused as bad input, not left to fail as a server error."""
    try:
        return await request.post()
    except (ValueError, LookupError):
        # UnicodeDecodeError is a ValueError; an unknown charset name is a LookupError.
        raise InvalidInput(
            "The form could not be read: send it as UTF-8 text.", code="bad_form"
        ) from None


# An id is ASCII digits and nothing else: int() would also take "+1", "1_0", " 1" and
# full-width or other Unicode digits, so "/api/visits/1_0" would open visit 10.
_ROW_ID = re.compile(r"[0-9]{1,10}")


def parse_row_id(value: str) -> int | None:
    """The row id spelled by `value`, or None when it is not one (the one id parser)."""
    if not _ROW_ID.fullmatch(value):
        return None
    number = int(value)
    return number if 1 <= number <= MAX_ROW_ID else None


def int_param(value: str | None, name: str, *, required: bool = True) -> int | None:
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{name} is required.", field=name)
        return None
    number = parse_row_id(value)
    if number is None:
        raise InvalidInput(f"{name} must be a whole number from 1 to {MAX_ROW_ID}.", field=name)
    return number


def path_id(request: web.Request, name: str = "id") -> int:
    number = parse_row_id(request.match_info.get(name, ""))
    if number is None:
        raise NotFound()  # exactly like a missing record
    return number


def client_address(request: web.Request) -> str | None:
    """The caller's address; behind a trusted proxy, the last hop it added."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return addresses.client_address(
        request.remote, forwarded, trust_proxy=request.app[SETTINGS].trust_proxy
    )


def see_other(location: str) -> web.Response:
    """A 303 redirect returned as a response (so middleware can still set cookies on it)."""
    return web.Response(status=303, headers={"Location": location})


def parse_when(
    value: str | None, name: str, *, check: Callable[[datetime], None] | None = None
) -> datetime | None:
    """An ISO 8601 date-time with offset, as UTC. One at the calendar's edge whose offset
    takes it outside years 1-9999 (0001-01-01T00:00+14:00) is refused, not carried on.
    `check` sees the value as written first (a narrower range, with its own message)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date-time with offset.", field=name
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} must include a UTC offset, such as Z or -05:00.", field=name)
    if check is not None:
        check(parsed)
    return within_calendar(parsed, name)


def within_calendar(when: datetime, name: str, *, plus: timedelta = timedelta(0)) -> datetime:
    """`when` (+ `plus`) in UTC, or a 422 naming the field when that leaves years 1-9999."""
    try:
        return when.astimezone(UTC) + plus
    except OverflowError:
        raise InvalidInput(
            f"{name} is outside the calendar. Use a date between 0001-01-02 and 9999-12-30.",
            field=name,
        ) from None
