"""Signing in and out: passwords, lockout, idle logoff, cookies and CSRF, on both databases."""

import re

import pytest
from sqlmodel import col, select

from telehealth.audit import AuditEntry
from tests.builders import PASSWORD, Cast, login


async def audit_rows(sessionmaker, **filters) -> list[AuditEntry]:
    async with sessionmaker() as session:
        query = select(AuditEntry).order_by(col(AuditEntry.seq))
        for key, value in filters.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return list((await session.execute(query)).scalars().all())


async def test_a_correct_password_opens_a_session_with_a_safe_cookie(client, cast: Cast):
    response = await client.post("/api/session", json={"username": "bob", "password": PASSWORD})
    assert response.status == 200
    assert (await response.json())["user"] == {
        "id": cast.bob.id,
        "username": "bob",
        "role": "prescriber",
    }
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback
    assert (await client.get("/api/me")).status == 200


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client, cast):
    for username in ("bob", "nobody-here"):
        response = await client.post(
            "/api/session", json={"username": username, "password": "wrong password"}
        )
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_credentials"
    assert (await client.get("/api/me")).status == 401


@pytest.mark.both_databases
async def test_five_failed_sign_ins_lock_the_account_for_fifteen_minutes(
    client, cast: Cast, clock, sessionmaker
):
    for _ in range(5):
        response = await client.post(
            "/api/session", json={"username": "bob", "password": "wrong password"}
        )
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "locked_out"
    assert "15 minutes" in body["error"]["message"]
    # Even the right password is refused while locked.
    response = await client.post("/api/session", json={"username": "bob", "password": PASSWORD})
    assert response.status == 429
    clock.advance(minutes=14)
    response = await client.post("/api/session", json={"username": "bob", "password": PASSWORD})
    assert response.status == 429
    assert "1 minutes" in (await response.json())["error"]["message"]
    clock.advance(minutes=2)
    response = await client.post("/api/session", json={"username": "bob", "password": PASSWORD})
    assert response.status == 200
    failures = [
        e
        for e in await audit_rows(sessionmaker, user_id=cast.bob.id)
        if e.action == "login" and e.outcome == "failure"
    ]
    # Five wrong passwords (the fifth starts the lock), then the refusals while locked
    # recorded once, not once per attempt (a flood of refused attempts writes nothing).
    assert [e.detail for e in failures] == [{"reason": "bad_credentials"}] * 4 + [
        {"reason": "bad_credentials", "locked": True},
        {"reason": "locked_out"},
    ]


@pytest.mark.both_databases
async def test_a_session_left_idle_is_signed_out_and_says_why(
    client, cast: Cast, clock, sessionmaker
):
    await login(client, cast.bob)
    clock.advance(minutes=14)
    assert (await client.get("/api/me")).status == 200  # activity keeps it alive
    clock.advance(minutes=14)
    assert (await client.get("/api/me")).status == 200
    clock.advance(minutes=16)
    response = await client.get("/api/me")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "session_expired"
    assert "15 minutes" in body["error"]["message"]
    # The session stays ended, even if the clock were turned back.
    clock.advance(minutes=-16)
    assert (await client.get("/api/me")).status == 401
    logouts = [
        e for e in await audit_rows(sessionmaker, user_id=cast.bob.id) if e.action == "logout"
    ]
    assert [e.detail for e in logouts] == [{"reason": "idle"}]


async def test_an_idle_page_visit_goes_back_to_the_login_page_with_a_notice(
    client, cast: Cast, clock
):
    await login(client, cast.sam)
    clock.advance(minutes=20)
    response = await client.get("/scheduler")
    assert str(response.url).endswith("/login?expired=1")
    assert "signed out after a period of inactivity" in await response.text()


async def test_signing_out_ends_the_session_on_the_server(client, cast: Cast, new_client):
    await login(client, cast.bob)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))["th_session"].value
    assert (await client.delete("/api/session")).status == 204
    assert (await client.get("/api/me")).status == 401
    # A copy of the old cookie is worthless too.
    other = await new_client()
    other.session.cookie_jar.update_cookies({"th_session": token})
    assert (await other.get("/api/me")).status == 401


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


async def test_the_login_form_works_with_its_token_and_is_refused_without(client, cast: Cast):
    page = await client.get("/login")
    token = csrf_from(await page.text())
    refused = await client.post("/login", data={"username": "bob", "password": PASSWORD})
    assert refused.status == 403
    assert "expired" in await refused.text()
    forged = await client.post(
        "/login", data={"username": "bob", "password": PASSWORD, "csrf_token": "0" * 64}
    )
    assert forged.status == 403
    response = await client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/prescriber"


async def test_the_logout_form_is_refused_without_its_token(client, cast: Cast):
    await login(client, cast.bob)
    response = await client.post("/logout", data={})
    assert response.status == 403
    assert (await client.get("/api/me")).status == 200
    token = csrf_from(await (await client.get("/prescriber")).text())
    response = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert response.status == 303
    assert (await client.get("/api/me")).status == 401


async def test_api_writes_must_be_json_and_not_cross_site(client, cast: Cast):
    await login(client, cast.ada)
    as_form = await client.post("/api/users", data={"username": "x", "role": "admin"})
    assert as_form.status == 422
    assert (await as_form.json())["error"]["code"] == "json_required"
    cross = await client.post(
        "/api/users", json={"username": "x"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status == 403
    assert (await cross.json())["error"]["code"] == "csrf_failed"
    fetch_cross = await client.post(
        "/api/users", json={"username": "x"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch_cross.status == 403
    # A sibling subdomain carries the Lax cookie; a body-less POST needs no content type.
    sibling = await client.post("/api/users", headers={"Sec-Fetch-Site": "same-site"})
    assert sibling.status == 403
    own_page = await client.get("/api/me", headers={"Sec-Fetch-Site": "same-origin"})
    assert own_page.status == 200


async def test_login_redirect_never_leaves_the_site(client, cast: Cast):
    page = await client.get("/login?next=//evil.example/x")
    token = csrf_from(await page.text())
    response = await client.post(
        "/login",
        data={
            "username": "bob",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/x",
        },
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/prescriber"


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example/",
        "/ /evil",
    ],
)
async def test_login_never_redirects_off_site_whatever_the_next_value(client, cast, target):
    page = await client.get("/login")
    token = csrf_from(await page.text())
    response = await client.post(
        "/login",
        data={"username": "bob", "password": PASSWORD, "csrf_token": token, "next": target},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/prescriber"


async def test_nul_characters_are_refused_with_a_clear_error_not_a_crash(client, cast):
    await login(client, cast.ada)
    response = await client.post(
        "/api/users",
        json={
            "username": "nul",
            "role": "scheduler",
            "full_name": "Bad\u0000Name",
            "password": "a-long-password",
        },
    )
    assert response.status == 422
    assert "NUL" in (await response.json())["error"]["message"]
    page = await client.get("/login")
    form = await client.post(
        "/login",
        data={"username": "bo\u0000b", "password": "x", "csrf_token": csrf_from(await page.text())},
    )
    assert form.status == 422


@pytest.mark.both_databases
async def test_ids_beyond_the_database_range_look_like_missing_records(client, cast):
    await login(client, cast.ada)
    for path in ("/api/visits/99999999999999999999", "/api/visits/2147483648"):
        response = await client.get(path)
        assert response.status == 404
        assert await response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    response = await client.get("/api/audit?patient_id=99999999999999999999")
    assert response.status == 422
    response = await client.patch("/api/users/2147483648", json={"unlock": True})
    assert response.status == 404


async def test_after_an_idle_logoff_signing_in_again_just_works(client, cast: Cast, clock):
    await login(client, cast.bob)
    clock.advance(minutes=30)
    response = await client.post("/api/session", json={"username": "bob", "password": PASSWORD})
    assert response.status == 200, await response.text()
    assert (await client.get("/api/me")).status == 200
