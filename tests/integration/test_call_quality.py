"""Connection-quality samples from the call pages land on the visit's call history: numbers
only, from the visit's joined participants, at most one per participant per ten seconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.builders import Cast, VisitsSocket, login, make_visit, session_token

pytestmark = pytest.mark.timeout(60)

POOR = {"rtt_ms": 612.4, "loss_percent": 8.26, "bitrate_kbps": 95, "poor": True}
GOOD = {"rtt_ms": 40, "loss_percent": 0, "bitrate_kbps": 1800, "poor": False}


async def joined(settings: Any, sessionmaker: Any, person: Any, visit_id: int, clock: Any):
    # Patients come in through the visit's join link; prescribers are signed in.
    link = visit_id if person.role == "patient" else None
    token = await session_token(sessionmaker, person, visit_id=link, now=clock.now)
    sock = await VisitsSocket(settings.public_url, token).connect()
    assert (await sock.call("join", {"visit_id": visit_id}))["ok"] is True
    return sock


async def test_participants_record_quality_samples_the_practice_sees_on_the_call_history(
    server, client, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5)
    )
    alice = await joined(settings, sessionmaker, cast.alice, visit_id, clock)
    bob = await joined(settings, sessionmaker, cast.bob, visit_id, clock)
    try:
        await login(client, cast.alice)
        checked_in = await client.post(
            f"/api/visits/{visit_id}/check-in", json={"location_state": "NY"}
        )
        assert checked_in.status == 200
        assert (await bob.call("admit", {"visit_id": visit_id}))["ok"] is True

        sample = {"visit_id": visit_id, **POOR}
        assert await alice.call("call_quality", sample) == {"ok": True}
        # A page that reports again at once is told to wait; the other participant is not.
        again = await alice.call("call_quality", sample)
        assert again["ok"] is False and again["error"]["code"] == "rate_limited"
        assert await bob.call("call_quality", {"visit_id": visit_id, **GOOD}) == {"ok": True}
        clock.advance(seconds=10)
        assert await alice.call("call_quality", {"visit_id": visit_id, **GOOD}) == {"ok": True}

        for bad in (
            {**sample, "loss_percent": 150},
            {**sample, "rtt_ms": "slow"},
            {**sample, "poor": "yes"},
            {**sample, "sdp": "v=0"},
        ):
            refused = await bob.call("call_quality", bad)
            assert refused["error"]["code"] == "invalid_message", bad

        await login(client, cast.bob)
        events = (await (await client.get(f"/api/visits/{visit_id}/events")).json())["events"]
        samples = [(e["role"], e["detail"]) for e in events if e["kind"] == "call_quality"]
        assert samples == [
            ("patient", {"rtt_ms": 612, "loss_percent": 8.3, "bitrate_kbps": 95, "poor": True}),
            (
                "prescriber",
                {"rtt_ms": 40, "loss_percent": 0.0, "bitrate_kbps": 1800, "poor": False},
            ),
            ("patient", {"rtt_ms": 40, "loss_percent": 0.0, "bitrate_kbps": 1800, "poor": False}),
        ]

        # Once the visit is over, nothing more is recorded.
        assert (await bob.call("end", {"visit_id": visit_id}))["ok"] is True
        clock.advance(seconds=10)
        late = await bob.call("call_quality", {"visit_id": visit_id, **GOOD})
        assert late["ok"] is False
    finally:
        await alice.close()
        await bob.close()


async def test_only_a_joined_participant_reports_quality(
    server, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now + timedelta(minutes=5)
    )
    other = await make_visit(sessionmaker, cast.dana, cast.bob, clock.now + timedelta(minutes=5))
    dana = await joined(settings, sessionmaker, cast.dana, other, clock)
    try:
        # Dana is in her own visit: Alice's is answered as if it did not exist.
        refused = await dana.call("call_quality", {"visit_id": visit_id, **POOR})
        assert refused["ok"] is False and refused["error"]["code"] == "not_joined"
    finally:
        await dana.close()
