"""Join links: a signed link plus the patient's date of birth opens one visit, nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.builders import Cast, book_telehealth, login, make_visit

MONDAY = datetime(2026, 10, 26, 12, tzinfo=UTC)
START = datetime(2026, 10, 27, 14, tzinfo=UTC)  # Tuesday 10:00 in New York
DOB = "1990-05-17"  # the builders' date of birth for every patient


@pytest.fixture
async def visit(client: Any, cast: Cast, clock: Any, sessionmaker: Any) -> dict[str, Any]:
    clock.set(MONDAY)
    return await book_telehealth(client, sessionmaker, cast, START)


async def join(new_client: Any, token: str, dob: str = DOB) -> Any:
    c = await new_client()
    response = await c.post("/api/join", json={"token": token, "date_of_birth": dob})
    return c, response


async def assert_neutral_404(response: Any) -> None:
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    assert "th_session" not in response.cookies
    NEUTRAL.add(body["error"]["message"])
    assert len(NEUTRAL) == 1


NEUTRAL: set[str] = set()


async def test_the_right_link_and_date_of_birth_open_a_session_for_that_visit_only(
    visit, new_client, clock, cast, sessionmaker
):
    other = await make_visit(sessionmaker, cast.alice, cast.bob, START + timedelta(days=1))
    clock.set(START - timedelta(minutes=30))
    c, response = await join(new_client, visit["token"])
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["visit_id"] == visit["id"]
    assert body["user"]["id"] == cast.alice.id
    assert body["user"]["role"] == "patient"
    own = await c.get(f"/api/visits/{visit['id']}")
    assert own.status == 200
    assert (await c.get(f"/api/visits/{other}")).status == 404
    assert (await c.get("/api/visits")).status == 403
    me = await (await c.get("/api/me")).json()
    assert me["visit_id"] == visit["id"]


async def test_a_link_still_opens_in_the_last_minute_of_the_visit(visit, new_client, clock):
    clock.set(START + timedelta(minutes=29))
    _, response = await join(new_client, visit["token"])
    assert response.status == 200


async def test_a_wrong_token_answers_the_neutral_404(visit, new_client, clock):
    clock.set(START)
    _, response = await join(new_client, "A" * 59)
    await assert_neutral_404(response)
    _, response = await join(new_client, "not-a-token")
    await assert_neutral_404(response)


async def test_a_tampered_token_answers_the_neutral_404(visit, new_client, clock):
    clock.set(START)
    token = visit["token"]
    flipped = token[:5] + ("B" if token[5] != "B" else "C") + token[6:]
    _, response = await join(new_client, flipped)
    await assert_neutral_404(response)


async def test_a_wrong_date_of_birth_answers_the_neutral_404(visit, new_client, clock):
    clock.set(START)
    for dob in ("1990-05-18", "17/05/1990", ""):
        _, response = await join(new_client, visit["token"], dob)
        await assert_neutral_404(response)


async def test_a_link_before_its_window_says_too_early_and_when_it_opens(visit, new_client, clock):
    clock.set(START - timedelta(minutes=31))
    _, response = await join(new_client, visit["token"])
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "too_early"
    assert datetime.fromisoformat(error["opens_at"]) == START - timedelta(minutes=30)
    assert "9:30 AM EDT" in error["message"]  # the patient's zone, in words
    assert "th_session" not in response.cookies
    _, response = await join(new_client, visit["token"], "2001-02-03")
    await assert_neutral_404(response)  # only the right date of birth learns it


async def test_a_link_after_a_visit_that_never_took_place_says_its_time_passed(
    visit, new_client, clock
):
    clock.set(START + timedelta(minutes=30))
    _, response = await join(new_client, visit["token"])
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "visit_over"
    assert "th_session" not in response.cookies


async def test_a_cancelled_visits_link_says_so_after_the_right_date_of_birth(
    visit, client, new_client, clock
):
    await client.post(f"/api/visits/{visit['id']}/cancel", json={"reason": "sick"})
    clock.set(START)
    _, response = await join(new_client, visit["token"])
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "visit_cancelled"
    assert "th_session" not in response.cookies
    _, response = await join(new_client, visit["token"], "2001-02-03")
    await assert_neutral_404(response)


async def test_the_old_link_of_a_rescheduled_visit_says_where_it_moved(
    visit, client, new_client, clock
):
    later = START + timedelta(hours=2)
    moved = await (
        await client.post(
            f"/api/visits/{visit['id']}/reschedule", json={"start": later.isoformat()}
        )
    ).json()
    clock.set(later)
    _, response = await join(new_client, visit["token"])
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "visit_moved"
    assert datetime.fromisoformat(error["start"]) == later
    assert "th_session" not in response.cookies
    new_token = moved["join_url"].rsplit("/join/", 1)[1]
    _, response = await join(new_client, new_token)
    assert response.status == 200


@pytest.mark.both_databases
async def test_too_many_wrong_tries_lock_the_link_even_for_the_right_date(
    visit, new_client, clock, settings
):
    clock.set(START)
    for _ in range(settings.join_attempts):
        _, response = await join(new_client, visit["token"], "2000-01-01")
        await assert_neutral_404(response)
    for dob in (DOB, "2000-01-01"):
        _, response = await join(new_client, visit["token"], dob)
        assert response.status == 429
        error = (await response.json())["error"]
        assert error["code"] == "link_locked"
        assert "call the practice" in error["message"].lower()
        assert "th_session" not in response.cookies


async def test_a_missing_body_answers_the_neutral_404(visit, new_client):
    c = await new_client()
    response = await c.post("/api/join", json={})
    await assert_neutral_404(response)


async def test_failed_tries_are_audited_without_the_date_of_birth(visit, new_client, clock, cast):
    clock.set(START)
    await join(new_client, visit["token"], "1999-12-31")
    ada = await new_client()
    await login(ada, cast.ada)
    entries = (await (await ada.get("/api/audit", params={"patient_id": cast.alice.id})).json())[
        "entries"
    ]
    denied = [e for e in entries if e["resource_type"] == "join_link"]
    assert denied
    assert denied[0]["action"] == "access-denied"
    assert "1999" not in str(entries)


async def test_another_spelling_of_the_same_token_is_refused_so_tries_cannot_be_multiplied(
    visit, new_client, clock
):
    clock.set(START)
    token = visit["token"]
    # The last base64 character carries two unused bits: only one spelling is accepted.
    variants = [token[:-1] + c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c != token[-1]]
    for variant in variants[:3]:
        _, response = await join(new_client, variant)
        await assert_neutral_404(response)
