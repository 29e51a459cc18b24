"""An old visit cannot be reopened to order on: its presence and attested place have passed."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from telehealth.visits.models import Visit
from tests.builders import ALPRAZOLAM, Cast, login, make_visit


async def finished_visit(sessionmaker, patient, prescriber, start, *, modality, state):
    visit_id = await make_visit(
        sessionmaker,
        patient,
        prescriber,
        start,
        modality=modality,
        status="finished",
        location_state=state,
    )
    async with sessionmaker() as session:
        await session.execute(
            update(Visit).where(Visit.id == visit_id).values(ended_at=start + timedelta(minutes=30))
        )
        await session.commit()
    return visit_id


@pytest.mark.both_databases
async def test_an_in_person_visit_from_long_ago_cannot_be_used_to_order_a_controlled_drug(
    client, cast: Cast, sessionmaker, clock
):
    old = await finished_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(days=800),
        modality="in_person",
        state="NY",
    )
    await login(client, cast.bob)
    response = await client.post(f"/api/visits/{old}/orders", json=ALPRAZOLAM)
    assert response.status == 409
    body = await response.json()
    assert body["error"]["code"] == "visit_closed"
    assert "24 hours" in body["error"]["message"]


@pytest.mark.both_databases
async def test_an_old_video_visit_cannot_be_reopened_to_order_with_its_old_state(
    client, cast: Cast, sessionmaker, clock
):
    old = await finished_visit(
        sessionmaker,
        cast.dana,
        cast.bob,
        clock.now - timedelta(days=800),
        modality="telehealth",
        state="NY",
    )
    await login(client, cast.bob)
    gabapentin = {**ALPRAZOLAM, "medication_id": "gabapentin-capsule", "dose": "300 mg"}
    response = await client.post(f"/api/visits/{old}/orders", json=gabapentin)
    assert response.status == 409


@pytest.mark.both_databases
async def test_an_in_person_visit_that_ended_this_afternoon_still_counts_as_presence(
    client, cast: Cast, sessionmaker, clock
):
    today = await finished_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(hours=2),
        modality="in_person",
        state="NY",
    )
    await login(client, cast.bob)
    response = await client.post(f"/api/visits/{today}/orders", json=ALPRAZOLAM)
    assert response.status == 201, await response.text()


async def test_nonsense_numbers_in_an_order_are_refused_with_the_field_named(
    client, cast: Cast, sessionmaker, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )
    await login(client, cast.bob)
    sertraline = {**ALPRAZOLAM, "medication_id": "sertraline-tablet", "dose": "50 mg"}
    huge = await client.post(
        f"/api/visits/{visit_id}/orders", json={**sertraline, "quantity": "1e45"}
    )
    assert huge.status == 422
    assert (await huge.json())["error"]["field"] == "quantity"
    nan = await client.post(
        f"/api/visits/{visit_id}/orders",
        data='{"medication_id": "sertraline-tablet", "dose": NaN, '
        '"route": "oral", "frequency": "daily", "quantity": "30"}',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status == 422
    assert (await nan.json())["error"]["field"] == "dose"
