"""Every route checks who is asking, on the server, for all four roles."""

import re

import pytest

from tests.builders import Cast, login

# Routes anyone may call: signing in, the join link, health checks, static files.
PUBLIC = {
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("POST", "/api/session"),
    ("POST", "/api/join"),
    ("GET", "/join/{token}"),
    ("GET", "/questionnaires/{token}"),
    ("POST", "/api/questionnaire-link"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/openapi.json"),
}


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def every_route(app) -> list[tuple[str, str]]:
    routes = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("formatter") or info.get("path")
        if not path or route.method in ("HEAD", "OPTIONS", "*"):
            continue
        if path.startswith(("/static", "/vendor", "/socket.io")):
            continue
        routes.add((route.method, path))
    return sorted(routes)


async def test_no_route_but_the_public_ones_answers_someone_not_signed_in(app, client):
    checked = 0
    for method, path in every_route(app):
        if (method, path) in PUBLIC:
            continue
        response = await client.request(
            method, concrete(path), json={} if method != "GET" else None, allow_redirects=False
        )
        checked += 1
        if path.startswith("/api/"):
            assert response.status in (401, 404), f"{method} {path} -> {response.status}"
            if response.status == 401:
                assert (await response.json())["error"]["code"] == "not_signed_in"
        else:
            assert response.status in (303, 401, 403, 404), f"{method} {path}"
            if response.status == 303:
                assert response.headers["Location"].startswith("/login")
    assert checked >= 4


STAFF_ONLY = [
    ("POST", "/api/users", {"admin"}),
    ("GET", "/api/audit", {"admin"}),
    ("GET", "/admin/audit", {"admin"}),
    ("GET", "/admin/audit.csv", {"admin"}),
    ("GET", "/prescriber/visits", {"prescriber"}),
    ("GET", "/patient", {"patient"}),
    ("GET", "/prescriber", {"prescriber"}),
    ("GET", "/scheduler", {"scheduler"}),
    ("GET", "/admin", {"admin"}),
]


@pytest.mark.parametrize("who", ["alice", "bob", "sam", "ada"])
async def test_each_role_reaches_only_its_own_pages_and_endpoints(new_client, cast: Cast, who):
    person = getattr(cast, who)
    c = await new_client()
    await login(c, person)
    for method, path, roles in STAFF_ONLY:
        body = (
            {
                "username": f"new-{who}",
                "role": "scheduler",
                "full_name": "New Person",
                "password": "a-long-password",
            }
            if method == "POST"
            else None
        )
        response = await c.request(method, path, json=body, allow_redirects=False)
        if person.role in roles:
            assert response.status in (200, 201), f"{who} {method} {path} {response.status}"
        else:
            assert response.status == 403, f"{who} {method} {path} {response.status}"
            if path.startswith("/api/"):
                assert (await response.json())["error"]["code"] == "forbidden"


async def test_a_refused_route_is_audited_as_access_denied(client, cast: Cast, sessionmaker):
    from sqlmodel import select

    from telehealth.audit import AuditEntry

    await login(client, cast.bob)
    assert (await client.get("/api/audit")).status == 403
    async with sessionmaker() as session:
        rows = (
            (await session.execute(select(AuditEntry).where(AuditEntry.action == "access-denied")))
            .scalars()
            .all()
        )
    assert [(r.user_id, r.resource_id, r.outcome) for r in rows] == [
        (cast.bob.id, "/api/audit", "failure")
    ]
