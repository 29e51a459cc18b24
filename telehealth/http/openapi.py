"""Web layer: the OpenAPI document, built from the live route table.

Paths come from the router, so a new endpoint is listed the moment it exists; summaries
come from the handlers' docstrings, and every shape from the pydantic models each handler
names with `@api` (the same models that parse its requests and shape its answers).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from telehealth.db import MAX_ROW_ID
from telehealth.http.models import Error, Reply
from telehealth.http.schema import ApiSpec, api, spec_of

routes = web.RouteTableDef()

ERROR = {"$ref": "#/components/schemas/Error"}


S = {"type": "string"}
ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}


def _schema(model: type[BaseModel], mode: Any, components: dict[str, Any]) -> dict[str, Any]:
    """``model``'s JSON schema as a reference, its parts added to ``components``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
    components.update(schema.pop("$defs", {}))
    name = model.__name__
    components.setdefault(name, schema)
    return {"$ref": f"#/components/schemas/{name}"}


def _operation(
    method: str, path: str, doc: list[str], spec: ApiSpec, components: dict[str, Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, answer in (spec.responses or {200: None}).items():
        text, model = answer if isinstance(answer, tuple) else ("OK", answer)
        responses[str(status)] = {"description": text}
        if isinstance(model, str):
            responses[str(status)]["content"] = {model: {"schema": S}}
        elif model is not None:
            responses[str(status)]["content"] = {
                "application/json": {"schema": _schema(model, "serialization", components)}
            }
    for status, codes in spec.errors.items():
        responses[str(status)] = {"description": codes, "content": {"application/json": ERROR_BODY}}
    responses["default"] = {"description": "Error", "content": {"application/json": ERROR_BODY}}
    operation: dict[str, Any] = {
        "summary": doc[0] if doc else f"{method} {path}",
        "operationId": _operation_id(method, path),
        "responses": responses,
    }
    parameters = [
        {"name": p, "in": "path", "required": True, "schema": ROW_ID}
        if p.endswith("id")
        else {"name": p, "in": "path", "required": True, "schema": S}
        for p in re.findall(r"\{([^}]+)\}", path)
    ]
    if spec.query is not None:
        query = spec.query.model_json_schema(
            ref_template="#/components/schemas/{model}", mode="validation"
        )
        components.update(query.pop("$defs", {}))  # enums a parameter names
        required = set(query.get("required", []))
        parameters += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in query.get("properties", {}).items()
        ]
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _schema(spec.body, "validation", components)}
            },
        }
    if spec.public:
        operation["security"] = []
    return operation


def _operation_id(method: str, path: str) -> str:
    return f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower())}".strip("_")


ERROR_BODY = {"schema": ERROR}


def build_openapi(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    components: dict[str, Any] = {}
    _schema(Error, "serialization", components)
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method in ("HEAD", "OPTIONS", "*"):
            continue
        info = resource.get_info()
        path = info.get("formatter") or info.get("path")
        if not isinstance(path, str) or not path.startswith("/api/"):
            continue
        method = route.method.upper()
        doc = (getattr(route.handler, "__doc__", None) or "").strip().splitlines()
        # Every API handler names its models with @api (a test holds it to that); one
        # that has not yet is still listed, without shapes.
        spec = spec_of(route.handler) or ApiSpec()
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, doc, spec, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "telehealth",
            "version": "1",
            "description": "JSON API of the telehealth platform. Datetimes are ISO 8601 "
            "with offset; dates YYYY-MM-DD; states two letters. Every "
            'error is {"error": {"code", "message"}}. Signaling: '
            "docs/signaling.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"session": []}],
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "th_session"}
            },
            "schemas": dict(sorted(components.items())),
        },
        "paths": dict(sorted(paths.items())),
    }


class OpenApiDocument(Reply):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@routes.get("/api/openapi.json")
@api(responses={200: ("This document", OpenApiDocument)}, public=True)
async def openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI 3.1 description of this API."""
    return web.json_response(build_openapi(request.app))
