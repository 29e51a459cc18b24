"""A session opened from a join link ends when its visit is moved or cancelled."""

from datetime import timedelta

import pytest

from tests.builders import Cast, login, open_hours
from tests.integration.test_join_links import MONDAY, START, join


@pytest.mark.parametrize("change", ["reschedule", "cancel"])
async def test_moving_or_cancelling_the_visit_ends_the_links_session(
    client, new_client, cast: Cast, clock, sessionmaker, change
):
    clock.set(MONDAY)
    await open_hours(sessionmaker, cast.bob)
    await login(client, cast.sam)
    booked = await client.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": START.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert booked.status == 201, await booked.text()
    visit = await booked.json()
    token = visit["join_url"].rsplit("/join/", 1)[1]

    clock.set(START - timedelta(minutes=10))
    await login(client, cast.sam)  # the scheduler's earlier session idled out overnight
    patient, opened = await join(new_client, token)
    assert opened.status == 200, await opened.text()
    assert (await patient.get(f"/api/visits/{visit['id']}")).status == 200

    if change == "reschedule":
        moved = await client.post(
            f"/api/visits/{visit['id']}/reschedule",
            json={"start": (START + timedelta(hours=2)).isoformat()},
        )
    else:
        moved = await client.post(
            f"/api/visits/{visit['id']}/cancel", json={"reason": "Prescriber unwell"}
        )
    assert moved.status == 200, await moved.text()

    response = await patient.get(f"/api/visits/{visit['id']}")
    assert response.status == 401
    body = await response.json()
    assert body["error"]["code"] == "visit_changed"
    assert "latest invitation" in body["error"]["message"]
    assert (await patient.get(f"/api/visits/{visit['id']}")).status == 401
