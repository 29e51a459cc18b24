"""Hostile input through the real server: odd id spellings, deep JSON, undecodable forms,
dates at the calendar's edge. Each answers a 4xx in the usual shape, never a 500."""

from datetime import timedelta

import pytest

from tests.builders import Cast, login, make_visit


async def error_of(response) -> dict:
    assert response.status < 500, await response.text()
    body = await response.json()
    assert set(body["error"]) >= {"code", "message"}
    return body["error"]


@pytest.mark.parametrize(
    "spelling",
    [
        "0_{id}",  # int() reads underscores between digits
        "+{id}",
        "%2B{id}",
        "%20{id}",  # int() strips spaces
        "{fullwidth}",  # int() reads full-width and other Unicode digits
        "{arabic_indic}",
    ],
)
async def test_a_visit_id_is_ascii_digits_and_nothing_else(
    client, cast: Cast, sessionmaker, clock, spelling
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=1))
    await login(client, cast.sam)
    assert (await client.get(f"/api/visits/{visit_id}")).status == 200
    path = spelling.format(
        id=visit_id,
        fullwidth="".join(chr(0xFF10 + int(d)) for d in str(visit_id)),
        arabic_indic="".join(chr(0x0660 + int(d)) for d in str(visit_id)),
    )
    for url in (f"/api/visits/{path}", f"/api/visits/{path}/ice-servers"):
        response = await client.get(url)
        assert response.status == 404, url
        assert (await error_of(response))["code"] == "not_found"
    assert (await client.get(f"/visits/{path}/record")).status == 404
    # Ids in a query string follow the same rule (a 422 naming the field there).
    await login(client, cast.ada)
    response = await client.get(f"/api/audit?patient_id={path}")
    assert response.status == 422
    assert (await error_of(response))["field"] == "patient_id"


def nested(depth: int) -> str:
    return '{"username": ' + "[" * depth + "]" * depth + ', "password": "x"}'


@pytest.mark.parametrize("depth", [40, 100_000])
async def test_deeply_nested_json_is_refused_before_sign_in_and_after(client, cast: Cast, depth):
    headers = {"Content-Type": "application/json"}
    response = await client.post("/api/session", data=nested(depth), headers=headers)
    assert response.status == 422
    assert "nested" in (await error_of(response))["message"] or depth > 1000
    await login(client, cast.ada)
    response = await client.post("/api/users", data=nested(depth), headers=headers)
    assert response.status == 422
    await error_of(response)
    # An ordinary body still works, and shallow nesting is fine.
    assert (await client.get("/api/me")).status == 200


@pytest.mark.parametrize("path", ["/login", "/logout"])
async def test_a_form_that_is_not_utf8_is_refused_as_bad_input(client, cast: Cast, path):
    page = await client.get("/login")
    assert page.status == 200
    response = await client.post(
        path,
        data=b"username=\xff\xfe&password=\xc3\x28&csrf_token=abc",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    assert response.status == 422
    assert "UTF-8" in await response.text()
    unknown_charset = await client.post(
        path,
        data=b"username=a",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=no-such-set"},
    )
    assert unknown_charset.status == 422


@pytest.mark.parametrize(
    "query",
    [
        "start=0001-01-01T00:00:00%2B14:00",
        "end=0001-01-01T00:00:00%2B00:30",
        "start=9999-12-31T23:59:59-12:00",
        "end=9999-12-31T20:00:00-05:00",
    ],
)
@pytest.mark.both_databases
async def test_audit_search_at_the_calendars_edge_answers_422(client, cast: Cast, query):
    await login(client, cast.ada)
    response = await client.get(f"/api/audit?{query}")
    assert response.status == 422
    assert "calendar" in (await error_of(response))["message"]


@pytest.mark.both_databases
async def test_audit_search_reaches_the_first_and_last_representable_instants(client, cast: Cast):
    await login(client, cast.ada)
    response = await client.get(
        "/api/audit?start=0001-01-01T00:00:00%2B00:00&end=9999-12-31T23:59:59%2B00:00"
    )
    assert response.status == 200
    # The admin page takes plain days; 'To' includes its day, which 9999-12-31 cannot.
    page = await client.get("/admin/audit?start=0001-01-01&end=9999-12-31")
    assert page.status == 200
    assert "calendar" in await page.text()
    page = await client.get("/admin/audit?start=0001-01-01&end=9999-12-30")
    assert page.status == 200
    assert "calendar" not in await page.text()
