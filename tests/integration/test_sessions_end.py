"""Sessions end, and a page talks only to its own platform: an absolute lifetime besides
idle logoff, a CSRF cookie replaced at sign-in, connect-src naming this origin only."""

import re

from tests.builders import Cast, login


def cookie(client, name: str) -> str | None:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/")).get(name)
    return found.value if found else None


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)


async def test_a_busy_session_still_ends_twelve_hours_after_sign_in(client, cast: Cast, clock):
    await login(client, cast.bob)
    for _ in range(51):  # every 14 minutes: never idle
        clock.advance(minutes=14)
        assert (await client.get("/api/me")).status == 200
    clock.advance(minutes=14)  # 12 h 8 min after signing in
    response = await client.get("/api/me")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "session_expired"
    assert "12 hours" in body["error"]["message"]
    # Idle logoff shares the code; the page that explains this ending is named.
    assert body["error"]["sign_in"] == "/login?expired=lifetime"
    assert (await client.get("/api/me")).status == 401
    # The page says why, and signing in again works.
    await login(client, cast.bob)
    clock.advance(hours=12, minutes=1)
    page = await client.get("/prescriber")
    assert str(page.url).endswith("/login?expired=lifetime")
    assert "12 hours after signing in" in await page.text()


async def test_signing_in_replaces_the_csrf_cookie_so_an_earlier_token_is_worthless(
    client, cast: Cast
):
    before_token = csrf_from(await (await client.get("/login")).text())
    before_cookie = cookie(client, "th_csrf")
    assert before_cookie
    response = await client.post(
        "/login",
        data={"username": "bob", "password": cast.bob.password, "csrf_token": before_token},
        allow_redirects=False,
    )
    assert response.status == 303
    after_cookie = cookie(client, "th_csrf")
    assert after_cookie and after_cookie != before_cookie
    # A token captured (or planted) before sign-in no longer signs a form.
    stale = await client.post("/logout", data={"csrf_token": before_token})
    assert stale.status == 403
    assert (await client.get("/api/me")).status == 200
    fresh = csrf_from(await (await client.get("/prescriber")).text())
    assert fresh != before_token
    done = await client.post("/logout", data={"csrf_token": fresh}, allow_redirects=False)
    assert done.status == 303
    # The JSON sign-in replaces it too.
    await client.get("/login")
    json_before = cookie(client, "th_csrf")
    await login(client, cast.bob)
    assert cookie(client, "th_csrf") != json_before


async def test_pages_may_connect_only_to_the_platforms_own_origin(client, settings):
    response = await client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    connect = next(p.strip() for p in policy.split(";") if p.strip().startswith("connect-src"))
    host = settings.public_url.removeprefix("http://")
    assert connect.split() == ["connect-src", "'self'", f"ws://{host}"]
