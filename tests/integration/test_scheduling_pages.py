"""The availability editor page: a plain form, for that prescriber, schedulers and admins."""

from __future__ import annotations

import re
from typing import Any

from tests.builders import Cast, error_of, login, open_hours


async def form_token(client: Any, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    match = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
    assert match
    return match.group(1)


def hours_form(token: str, **fields: str) -> dict[str, str]:
    data = {"csrf_token": token, "x_count": "3", "buffer_minutes": "10"}
    for day in range(7):
        data[f"w{day}_count"] = "3"
    data.update(fields)
    return data


async def test_a_prescriber_sees_and_saves_their_own_hours_in_their_zone(
    client, cast: Cast, sessionmaker
):
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00", days=(0,))
    await login(client, cast.bob)
    path = f"/prescribers/{cast.bob.id}/availability"
    page = await client.get(path)
    html = await page.text()
    assert "America/New_York" in html
    assert 'value="09:00"' in html
    token = await form_token(client, path)
    response = await client.post(
        path,
        data=hours_form(
            token, w1_0_start="13:00", w1_0_end="15:30", x0_date="2026-12-24", x0_kind="off"
        ),
        allow_redirects=False,
    )
    assert response.status == 303, response.headers
    assert response.headers["Location"].endswith("?saved=1"), response.headers
    saved = await (await client.get(f"/api/prescribers/{cast.bob.id}/availability")).json()
    assert saved["weekly"] == [{"weekday": 1, "start": "13:00", "end": "15:30"}]
    assert saved["exceptions"] == [{"date": "2026-12-24", "available": False}]
    assert saved["buffer_minutes"] == 10


async def test_a_mistake_is_shown_with_what_was_typed_and_nothing_changes(
    client, cast: Cast, sessionmaker
):
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00", days=(0,))
    await login(client, cast.sam)
    path = f"/prescribers/{cast.bob.id}/availability"
    token = await form_token(client, path)
    response = await client.post(path, data=hours_form(token, w2_0_start="15:00", w2_0_end="14:00"))
    assert response.status == 422
    html = await response.text()
    assert "must end after it starts" in html
    assert 'value="15:00"' in html
    saved = await (await client.get(f"/api/prescribers/{cast.bob.id}/availability")).json()
    assert saved["weekly"] == [{"weekday": 0, "start": "09:00", "end": "12:00"}]


async def test_another_prescriber_or_a_patient_cannot_open_the_editor(client, cast: Cast):
    for person in (cast.charlie, cast.alice):
        await login(client, person)
        response = await client.get(f"/prescribers/{cast.bob.id}/availability")
        assert response.status == 403
    await login(client, cast.ada)
    assert (await client.get(f"/prescribers/{cast.bob.id}/availability")).status == 200
    assert (await client.get(f"/prescribers/{cast.alice.id}/availability")).status == 404


# ---------------------------------------------------------------- the availability form


async def test_a_damaged_row_count_in_the_hours_form_is_refused_and_nothing_changes(
    client, cast: Cast, sessionmaker
):
    await open_hours(sessionmaker, cast.bob, start="09:00", end="12:00", days=(0,))
    await login(client, cast.bob)
    path = f"/prescribers/{cast.bob.id}/availability"
    for damage in ({"w0_count": "abc"}, {"x_count": "3000000"}, {"w3_count": "13"}):
        token = await form_token(client, path)
        response = await client.post(
            path, data=hours_form(token, w1_0_start="13:00", w1_0_end="15:00", **damage)
        )
        assert response.status == 422, damage
        html = await response.text()
        assert "Reload the page" in html
        assert 'value="09:00"' in html  # the saved hours are shown again
    saved = await (await client.get(f"/api/prescribers/{cast.bob.id}/availability")).json()
    assert saved["weekly"] == [{"weekday": 0, "start": "09:00", "end": "12:00"}]


async def test_a_day_with_more_than_twelve_ranges_of_hours_is_refused(client, cast: Cast):
    await login(client, cast.sam)
    ranges = [{"weekday": 0, "start": f"{h:02d}:00", "end": f"{h:02d}:30"} for h in range(6, 19)]
    response = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability", json={"weekly": ranges}
    )
    assert (await error_of(response, 422))["field"] == "weekly"
    fine = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability", json={"weekly": ranges[:12]}
    )
    assert fine.status == 200, await fine.text()
