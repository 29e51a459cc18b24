"""The OpenAPI document lists every JSON endpoint, with the public names of API.md."""

from tests.builders import Cast


async def test_openapi_lists_every_api_route_and_the_documented_shapes(app, client, cast: Cast):
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path") or ""
        if path.startswith("/api/") and route.method not in ("HEAD", "OPTIONS"):
            assert (route.method, path) in listed, f"{route.method} {path} missing"
    login = spec["paths"]["/api/session"]["post"]
    body = login["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:  # generated from the handler's model
        body = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    assert set(body["required"]) == {
        "username",
        "password",
    }
    assert "429" in login["responses"]
    assert login["security"] == []
