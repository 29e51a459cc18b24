"""Web layer: requests parsed into pydantic models at the edge, and each route described.

A handler names its models once, with `@api(...)`; the same models parse what arrives
(`parse_body`, `parse_query`), shape what leaves (`respond`) and generate the route's part of
`/api/openapi.json`. Services below never see a raw request dict: handlers pass them the
model's typed fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from telehealth.errors import InvalidInput
from telehealth.http.context import json_body

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Handler)

# A response: a model (JSON body), None (no body), or (description, model or None), or
# (description, media type) for a body that is not JSON, such as "text/csv".
Response = type[BaseModel] | None | tuple[str, type[BaseModel] | str | None]


@dataclass(frozen=True)
class ApiSpec:
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, Response] = field(default_factory=dict)
    # Errors the route answers with, by status: {409: "stale_version", ...}.
    errors: Mapping[int, str] = field(default_factory=dict)
    public: bool = False


def api(
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    responses: Mapping[int, Response] | None = None,
    errors: Mapping[int, str] | None = None,
    public: bool = False,
) -> Callable[[H], H]:
    """Name the models of a route (place it under the `@routes.<method>(...)` line)."""
    spec = ApiSpec(body, query, dict(responses or {}), dict(errors or {}), public)

    def mark(handler: H) -> H:
        handler.__api__ = spec  # type: ignore[attr-defined]
        return handler

    return mark


def spec_of(handler: object) -> ApiSpec | None:
    spec = getattr(handler, "__api__", None)
    return spec if isinstance(spec, ApiSpec) else None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``; 422 invalid_input naming the field otherwise."""
    return validate(model, await json_body(request))


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as ``model`` (each name once; the last value wins)."""
    return validate(model, {name: request.query.getall(name)[-1] for name in request.query})


def validate(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise invalid_input(exc) from None


def respond(model: BaseModel, *, status: int = 200, omit_unset: bool = False) -> web.Response:
    """``model`` as the JSON body. Fields left None are sent as null (the API names them),
    unless ``omit_unset``: then a field the handler did not set is left out."""
    return web.json_response(model.model_dump(mode="json", exclude_unset=omit_unset), status=status)


def invalid_input(exc: ValidationError) -> InvalidInput:
    """The first problem, said as what to send instead."""
    error = exc.errors(include_url=False)[0]
    loc = [str(part) for part in error["loc"]]
    name = ".".join(loc) if loc else None
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return InvalidInput(str(ctx["error"]), field=name)
    what = name or "The request body"
    message = _MESSAGES.get(kind)
    if message is None:
        text = str(error["msg"]).rstrip(".")
        return InvalidInput(f"{what}: {text[:1].lower()}{text[1:]}.", field=name)
    return InvalidInput(
        message.format(what=what, **{k: _show(v) for k, v in ctx.items()}), field=name
    )


def _show(value: Any) -> str:
    return str(value)


_MESSAGES = {
    "missing": "{what} is required.",
    "model_type": "The request body must be a JSON object.",
    "dict_type": "{what} must be a JSON object.",
    "int_type": "{what} must be a whole number.",
    "int_parsing": "{what} must be a whole number.",
    "int_from_float": "{what} must be a whole number.",
    "float_type": "{what} must be a number.",
    "float_parsing": "{what} must be a number.",
    "string_type": "{what} must be text.",
    "bool_type": "{what} must be true or false.",
    "bool_parsing": "{what} must be true or false.",
    "list_type": "{what} must be a list.",
    "date_type": "{what} must be a date as YYYY-MM-DD.",
    "date_parsing": "{what} must be a date as YYYY-MM-DD.",
    "date_from_datetime_parsing": "{what} must be a date as YYYY-MM-DD.",
    "date_from_datetime_inexact": "{what} must be a date as YYYY-MM-DD.",
    "datetime_type": "{what} must be a date and time with its offset, such as "
    "2026-03-03T15:00:00-05:00.",
    "datetime_parsing": "{what} must be a date and time with its offset, such as "
    "2026-03-03T15:00:00-05:00.",
    "datetime_from_date_parsing": "{what} must be a date and time with its offset, such as "
    "2026-03-03T15:00:00-05:00.",
    "timezone_aware": "{what} must carry its offset, such as 2026-03-03T15:00:00-05:00.",
    "string_too_short": "{what} must be at least {min_length} characters.",
    "string_too_long": "{what} must be at most {max_length} characters.",
    "too_short": "{what} must have at least {min_length} items.",
    "too_long": "{what} must have at most {max_length} items.",
    "greater_than_equal": "{what} must be at least {ge}.",
    "less_than_equal": "{what} must be at most {le}.",
    "greater_than": "{what} must be more than {gt}.",
    "less_than": "{what} must be less than {lt}.",
    "enum": "{what} must be one of: {expected}.",
    "literal_error": "{what} must be one of: {expected}.",
    "string_pattern_mismatch": "{what} is not in the expected form.",
    "extra_forbidden": "{what} is not a field of this request: remove it.",
    "json_invalid": "The request body must be a JSON object.",
}
