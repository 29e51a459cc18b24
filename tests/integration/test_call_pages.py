"""The video-visit pages: who may open them, and what the join link page gives away."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from telehealth import audit
from telehealth.uow import unit_of_work
from telehealth.visits.joinlinks import make_token
from telehealth.visits.models import Visit
from tests.builders import Cast, login, make_visit


async def _visit(sessionmaker: Any, cast: Cast, clock: Any, **options: Any) -> int:
    return await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=10), **options
    )


async def _token(sessionmaker: Any, visit_id: int, secret: str) -> str:
    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        return make_token(visit, secret)


async def test_the_join_page_looks_the_same_for_a_real_and_a_made_up_link(
    client: Any,
    cast: Cast,
    clock: Any,
    sessionmaker: Any,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = await _token(sessionmaker, await _visit(sessionmaker, cast, clock), settings.secret_key)
    caplog.set_level(logging.INFO)

    real = await client.get(f"/join/{token}")
    made_up = await client.get("/join/" + "A" * len(token))

    assert real.status == made_up.status == 200
    real_html = await real.text()
    assert real_html == (await made_up.text()).replace("A" * len(token), token)
    assert token not in real_html
    assert "Date of birth" in real_html
    assert real.headers["Referrer-Policy"] == "no-referrer"
    assert real.headers["Cache-Control"] == "no-store"
    # The app's own logs carry route templates only (the test server's access log is not
    # used in production: `telehealth serve` runs with access_log=None).
    ours = [r for r in caplog.records if r.name.startswith("telehealth")]
    assert ours
    assert all(token not in str(record.__dict__) for record in ours)


async def test_only_the_patient_of_the_visit_opens_the_patient_visit_page(
    client: Any, new_client: Any, cast: Cast, clock: Any, sessionmaker: Any
) -> None:
    visit_id = await _visit(sessionmaker, cast, clock)
    await login(client, cast.alice)
    others = []
    for person in (cast.dana, cast.bob, cast.charlie):
        other = await new_client()
        await login(other, person)
        others.append(other)

    page = await client.get(f"/visit/{visit_id}")

    assert page.status == 200
    html = await page.text()
    assert "Your video visit with Dr Bob Baker" in html
    assert '<option value="NY" selected>New York</option>' in html
    assert "Which state are you in right now?" in html
    for other in others:
        refused = await other.get(f"/visit/{visit_id}")
        assert refused.status == 404
        assert "Alice" not in await refused.text()


async def test_only_the_visits_prescriber_opens_the_call_page(
    client: Any, new_client: Any, cast: Cast, clock: Any, sessionmaker: Any
) -> None:
    visit_id = await _visit(sessionmaker, cast, clock, status="waiting", location_state="NJ")
    await login(client, cast.bob)

    page = await client.get(f"/visits/{visit_id}/call")

    assert page.status == 200
    html = await page.text()
    assert "Video visit with Alice Able" in html
    assert 'Patient is in: <span id="patient-location">New Jersey</span>' in html
    assert 'id="end-visit"' in html
    for person in (cast.charlie, cast.alice, cast.sam):
        other = await new_client()
        await login(other, person)
        refused = await other.get(f"/visits/{visit_id}/call")
        assert refused.status == 404


async def test_an_ended_visit_says_so_instead_of_starting_the_camera(
    client: Any, cast: Cast, clock: Any, sessionmaker: Any
) -> None:
    visit_id = await _visit(sessionmaker, cast, clock, status="finished")
    await login(client, cast.alice)

    html = await (await client.get(f"/visit/{visit_id}")).text()

    assert "This visit has ended" in html
    assert "patient-visit.js" not in html


async def test_the_connection_test_page_asks_a_stranger_to_sign_in(client: Any, cast: Cast) -> None:
    stranger = await client.get("/precall", allow_redirects=False)
    assert stranger.status == 303
    assert stranger.headers["Location"] == "/login?next=/precall"

    await login(client, cast.alice)
    page = await client.get("/precall")
    assert page.status == 200
    assert "Test your camera and connection" in await page.text()
