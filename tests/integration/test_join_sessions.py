"""A session opened from a join link ends when its visit is moved or cancelled."""

from datetime import timedelta

import pytest

from tests.builders import Cast, book_telehealth, login
from tests.integration.test_join_links import MONDAY, START, join


@pytest.mark.parametrize("change", ["reschedule", "cancel"])
async def test_moving_or_cancelling_the_visit_ends_the_links_session(
    client, new_client, cast: Cast, clock, sessionmaker, change
):
    clock.set(MONDAY)
    visit = await book_telehealth(client, sessionmaker, cast, START)
    token = visit["token"]

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


async def test_the_prescriber_never_receives_the_patients_join_link(
    client, new_client, cast: Cast, clock, sessionmaker
):
    clock.set(MONDAY)
    visit = await book_telehealth(client, sessionmaker, cast, START)
    bob = await new_client()
    await login(bob, cast.bob)
    body = await (await bob.get(f"/api/visits/{visit['id']}")).json()
    assert body["join_url"] is None
    invite = await (await bob.get(f"/api/visits/{visit['id']}/calendar.ics")).text()
    assert visit["token"] not in invite.replace("\r\n ", "")
    assert f"/visits/{visit['id']}/call" in invite.replace("\r\n ", "")
    alice = await new_client()
    await login(alice, cast.alice)
    mine = await (await alice.get(f"/api/visits/{visit['id']}")).json()
    assert mine["join_url"] == visit["join_url"]
