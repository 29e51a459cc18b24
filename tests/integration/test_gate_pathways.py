"""The covering-practitioner and VA routes, switched on, through the real API."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from telehealth.app import create_app
from telehealth.auth.models import PrescriberProfile
from tests.builders import ALPRAZOLAM, Cast, alice_in_a_call_with_bob, login, make_visit


async def setting_up(sessionmaker, cast: Cast, clock) -> int:
    """Bob saw Alice in person 100 days ago; today Charlie sees her by video."""
    await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=100),
        modality="in_person",
        status="finished",
    )
    return await make_visit(
        sessionmaker,
        cast.alice,
        cast.charlie,
        clock.now - timedelta(minutes=5),
        status="in_progress",
        location_state="NY",
    )


async def test_a_covering_prescriber_orders_on_the_strength_of_the_colleagues_evaluation(
    settings, clock, cast: Cast, sessionmaker
):
    visit_id = await setting_up(sessionmaker, cast, clock)
    app = create_app(settings.model_copy(update={"covering_practitioner": True}), clock=clock)
    async with TestClient(TestServer(app)) as charlie, TestClient(charlie.server) as bob:
        await login(charlie, cast.charlie)
        await login(bob, cast.bob)
        refused = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert refused.status == 403  # not covering for Bob yet

        today = clock.now.astimezone(ZoneInfo("America/New_York")).date()  # Charlie's day
        cover = {
            "covered_prescriber_id": cast.bob.id,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=7)).isoformat(),
        }
        self_made = await charlie.post(f"/api/prescribers/{cast.charlie.id}/coverage", json=cover)
        assert self_made.status == 403  # only the covered prescriber (or an admin) asks
        asked = await bob.post(f"/api/prescribers/{cast.charlie.id}/coverage", json=cover)
        assert asked.status == 201, await asked.text()

        allowed = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert allowed.status == 201, await allowed.text()
        listed = await (await charlie.get(f"/api/prescribers/{cast.charlie.id}/coverage")).json()
        assert [c["covered_prescriber_id"] for c in listed["coverage"]] == [cast.bob.id]


async def test_cover_runs_over_the_covering_prescribers_own_calendar_days(
    settings, clock, cast: Cast, sessionmaker
):
    # 04:55 UTC on 1 December is still 23:55 on 30 November for Charlie in New York.
    clock.set(datetime(2026, 12, 1, 4, 55, tzinfo=UTC))
    visit_id = await setting_up(sessionmaker, cast, clock)
    app = create_app(settings.model_copy(update={"covering_practitioner": True}), clock=clock)
    async with TestClient(TestServer(app)) as charlie, TestClient(charlie.server) as bob:
        await login(charlie, cast.charlie)
        await login(bob, cast.bob)
        starts_tomorrow = {
            "covered_prescriber_id": cast.bob.id,
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-05",
        }
        asked = await bob.post(f"/api/prescribers/{cast.charlie.id}/coverage", json=starts_tomorrow)
        assert asked.status == 201, await asked.text()
        early = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert early.status == 403  # not yet 1 December where Charlie is

        clock.set(datetime(2026, 12, 1, 5, 5, tzinfo=UTC))  # 00:05 in New York
        on_the_day = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert on_the_day.status == 201, await on_the_day.text()


async def test_the_covering_route_is_closed_unless_the_practice_switches_it_on(
    client, clock, cast: Cast, sessionmaker
):
    visit_id = await setting_up(sessionmaker, cast, clock)
    await login(client, cast.bob)
    today = clock.now.astimezone(ZoneInfo("America/New_York")).date()
    await client.post(
        f"/api/prescribers/{cast.charlie.id}/coverage",
        json={
            "covered_prescriber_id": cast.bob.id,
            "starts_on": today.isoformat(),
            "ends_on": today.isoformat(),
        },
    )
    await login(client, cast.charlie)
    response = await client.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
    assert response.status == 403


async def test_another_va_practitioners_evaluation_counts_on_the_va_route(
    settings, clock, cast: Cast, sessionmaker
):
    visit_id = await setting_up(sessionmaker, cast, clock)
    app = create_app(settings.model_copy(update={"va_pathway": True}), clock=clock)
    async with TestClient(TestServer(app)) as charlie:
        await login(charlie, cast.charlie)
        refused = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert refused.status == 403  # neither is a VA practitioner
        async with sessionmaker() as session:
            await session.execute(
                update(PrescriberProfile)
                .where(PrescriberProfile.user_id.in_([cast.bob.id, cast.charlie.id]))
                .values(va_practitioner=True)
            )
            await session.commit()
        allowed = await charlie.post(f"/api/visits/{visit_id}/orders", json=ALPRAZOLAM)
        assert allowed.status == 201, await allowed.text()


BUPRENORPHINE = {
    "medication_id": "buprenorphine-naloxone-sl-film",
    "dose": "8 mg/2 mg",
    "route": "sublingual",
    "frequency": "once daily",
    "quantity": "14",
    "refills": 0,
    "instructions": "",
    "indication": "opioid_use_disorder",
}


async def test_buprenorphine_for_oud_by_video_needs_a_pdmp_check_and_stays_within_six_months(
    settings, clock, cast: Cast, sessionmaker
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    app = create_app(settings.model_copy(update={"buprenorphine_oud_pathway": True}), clock=clock)
    async with TestClient(TestServer(app)) as bob:
        await login(bob, cast.bob)
        url = f"/api/visits/{visit_id}/orders"
        unchecked = await bob.post(url, json={**BUPRENORPHINE, "days_supply": 14})
        assert unchecked.status == 403
        assert "PDMP" in (await unchecked.json())["error"]["message"]

        checked = {**BUPRENORPHINE, "days_supply": 14, "pdmp": {"state": "NY"}}
        first = await bob.post(url, json=checked)
        assert first.status == 201, await first.text()

        too_much = await bob.post(url, json={**checked, "days_supply": 180})
        assert too_much.status == 403
        assert "left" in (await too_much.json())["error"]["message"]

        without_indication = {k: v for k, v in checked.items() if k != "indication"}
        refused = await bob.post(url, json=without_indication)
        assert refused.status == 403
