"""Every JSON route is described by the models its handler uses (issue 11).

The document is generated: each /api/ handler names its pydantic models with @api, the same
models that parse its request and shape its answer, so the description cannot drift from
the server.
"""

from telehealth.http.schema import spec_of

BODY_METHODS = {"POST", "PUT", "PATCH"}


def _api_routes(app):
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/api/") and route.method not in ("HEAD", "OPTIONS"):
            yield route, path


async def test_every_api_route_names_its_models(app):
    missing = [
        f"{route.method} {path}"
        for route, path in _api_routes(app)
        if spec_of(route.handler) is None
    ]
    assert missing == []


async def test_every_operation_has_response_schemas_that_resolve(app, client):
    spec = await (await client.get("/api/openapi.json")).json()
    components = spec["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(spec):
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in components, ref
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            answers = {
                status: answer
                for status, answer in operation["responses"].items()
                if status.startswith("2")
            }
            assert answers, f"{method} {path} has no success response"
            for status, answer in answers.items():
                if status != "204":
                    assert "content" in answer, f"{method.upper()} {path} {status}: no schema"
