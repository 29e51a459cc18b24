"""Operations basics: health checks, security headers, error pages, logs without PHI."""

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.logs import JsonFormatter
from tests.builders import Cast, login


async def test_health_and_readiness_answer(client):
    assert (await (await client.get("/healthz")).json()) == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["database"] == "ok"


@pytest.mark.both_databases
async def test_readiness_fails_when_the_database_is_unreachable(tmp_path):
    settings = Settings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:9/none",
        data_dir=tmp_path,
        secret_key="k" * 40,
    )
    async with TestClient(TestServer(create_app(settings))) as c:
        response = await c.get("/readyz")
        assert response.status == 503
        assert (await response.json())["database"] == "unreachable"
        assert (await c.get("/healthz")).status == 200


@pytest.mark.parametrize("path", ["/login", "/api/me", "/no/such/page", "/static/css/app.css"])
async def test_every_response_carries_the_security_headers(client, path):
    response = await client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert len(response.headers["X-Request-ID"]) >= 8
    assert "Strict-Transport-Security" not in response.headers  # plain http on loopback


async def test_hsts_and_secure_cookies_under_https(settings, clock, cast: Cast):
    https = settings.model_copy(update={"public_url": "https://clinic.example"})
    async with TestClient(TestServer(create_app(https, clock=clock))) as c:
        response = await c.post(
            "/api/session", json={"username": "bob", "password": cast.bob.password}
        )
        assert "max-age=" in response.headers["Strict-Transport-Security"]
        assert "Secure" in response.headers["Set-Cookie"]


async def test_pages_that_do_not_exist_leak_nothing(client):
    page = await client.get("/no/such/page")
    assert page.status == 404
    text = await page.text()
    assert "Traceback" not in text
    assert "aiohttp" not in text.lower()
    api = await client.get("/api/no/such/thing")
    assert api.status == 404
    assert await api.json() == {"error": {"code": "not_found", "message": "Not found."}}


async def test_a_crash_answers_a_plain_500_with_the_request_id_and_no_details(settings, clock):
    app = create_app(settings, clock=clock)

    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("secret internals: patient Alice Able")

    app.router.add_get("/api/boom", boom)
    app.router.add_get("/boom", boom)
    async with TestClient(TestServer(app)) as c:
        api = await c.get("/api/boom")
        assert api.status == 500
        body = await api.json()
        assert body["error"]["code"] == "server_error"
        assert api.headers["X-Request-ID"] in body["error"]["message"]
        assert "secret" not in json.dumps(body)
        page = await c.get("/boom")
        assert page.status == 500
        assert "secret" not in await page.text()


async def test_logs_are_json_with_request_ids_and_no_patient_details(client, cast: Cast, caplog):
    caplog.set_level(logging.INFO)
    await login(client, cast.ada)
    await client.post(
        "/api/users",
        json={
            "username": "pat.x",
            "role": "patient",
            "full_name": "Penelope Xanthe",
            "date_of_birth": "1955-03-04",
            "state": "OH",
            "timezone": "America/New_York",
            "email": "penelope@example.org",
        },
    )
    await client.get("/api/audit?patient_id=1")
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines
    parsed = [json.loads(line) for line in lines]
    requests = [p for p in parsed if p["message"] == "request"]
    assert requests
    assert all(p["request_id"] and p["route"] for p in requests)
    text = "\n".join(lines)
    for phi in ("Penelope", "Xanthe", "1955-03-04", "penelope@example.org", "th_session"):
        assert phi not in text


async def test_behind_a_trusted_proxy_the_audit_records_the_real_client(
    settings, clock, cast: Cast, sessionmaker
):
    from sqlmodel import col, select

    from telehealth.audit import AuditEntry

    proxied = settings.model_copy(update={"trust_proxy": True})
    async with TestClient(TestServer(create_app(proxied, clock=clock))) as c:
        await c.post(
            "/api/session",
            json={"username": "bob", "password": cast.bob.password},
            headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"},
        )
    async with sessionmaker() as session:
        last = (
            await session.execute(select(AuditEntry).order_by(col(AuditEntry.seq).desc()).limit(1))
        ).scalar_one()
    assert last.action == "login"
    assert last.source_address == "203.0.113.9"


async def test_a_raised_redirect_commits_the_request_like_any_success(
    settings, clock, sessionmaker
):
    from sqlmodel import col, select

    from telehealth import audit
    from telehealth.audit import Action, AuditEntry
    from telehealth.http.context import db

    app = create_app(settings, clock=clock)

    async def write_then_redirect(request: web.Request) -> web.Response:
        audit.record(db(request), Action.export, "probe", "redirect")
        raise web.HTTPSeeOther("/login")

    app.router.add_get("/probe", write_then_redirect)
    async with TestClient(TestServer(app)) as c:
        response = await c.get("/probe", allow_redirects=False)
        assert response.status == 303
    async with sessionmaker() as session:
        rows = (
            (
                await session.execute(
                    select(AuditEntry).where(col(AuditEntry.resource_type) == "probe")
                )
            )
            .scalars()
            .all()
        )
    assert len(rows) == 1
