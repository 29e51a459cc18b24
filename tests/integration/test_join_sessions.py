"""A session opened from a join link ends when its visit is moved or cancelled."""

from datetime import timedelta

import pytest

from tests.builders import Cast, book_telehealth, login
from tests.integration.test_join_links import DOB, MONDAY, START, join


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


async def test_a_link_from_an_email_opens_even_after_the_links_session_idled_out(
    client, new_client, cast: Cast, clock, sessionmaker
):
    """A link-only patient has no password: a session that idled out must not send her to a
    sign-in page when she follows her join or questionnaire link again."""
    clock.set(MONDAY)
    visit = await book_telehealth(client, sessionmaker, cast, START)
    token = visit["token"]
    clock.set(START - timedelta(minutes=20))
    patient, opened = await join(new_client, token)
    assert opened.status == 200, await opened.text()

    clock.advance(minutes=25)  # past the idle logoff, and the visit has started
    for path in (f"/join/{token}", f"/questionnaires/{token}"):
        page = await patient.get(path, allow_redirects=False)
        assert page.status == 200, (path, page.status, page.headers.get("Location"))
        assert "/login" not in str(page.url)
    again = await patient.post("/api/join", json={"token": token, "date_of_birth": DOB})
    assert again.status == 200, await again.text()
