"""What a committed change means for a call room reaches it whichever path made the change:
the unit of work publishes the change's domain events after commit, so a service called
outside any HTTP handler (a command, a background task) needs no one to announce it, and a
change that rolls back announces nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.keys import SESSIONMAKER
from telehealth.scheduling import booking
from telehealth.uow import unit_of_work
from telehealth.visits import lifecycle
from tests.builders import Cast, VisitsSocket, make_visit, session_token

pytestmark = pytest.mark.timeout(60)


class Undo(Exception):
    """Raised inside a unit of work to roll it back."""


def patient(cast: Cast) -> Actor:
    return Actor(user_id=cast.alice.id, role=Role.patient, username=cast.alice.username)


async def check_in(
    app, cast: Cast, visit_id: int, now: datetime, then: type[Exception] | None = None
) -> None:
    """The patient checks in by the service itself, in a unit of work of the app's own
    sessionmaker (no handler involved); `then` raised inside it rolls it back."""
    async with unit_of_work(app[SESSIONMAKER]) as session:
        await lifecycle.check_in(
            session, actor=patient(cast), visit_id=visit_id, location_state="NY", now=now
        )
        if then is not None:
            raise then


async def dashboard(settings, sessionmaker, cast: Cast, clock) -> VisitsSocket:
    bob = VisitsSocket(
        settings.public_url, await session_token(sessionmaker, cast.bob, now=clock.now)
    )
    await bob.connect()
    assert (await bob.call("watch_dashboard", {}))["ok"] is True
    return bob


async def test_a_check_in_made_outside_any_handler_reaches_the_prescribers_dashboard(
    app, server, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    bob = await dashboard(settings, sessionmaker, cast, clock)
    try:
        await check_in(app, cast, visit_id, clock.now)
        (notice,) = await bob.wait_for("waiting_room")
        assert notice["visit_id"] == visit_id
        assert notice["patient_name"] == "Alice Able"
    finally:
        await bob.close()


async def test_a_check_in_that_rolls_back_announces_nothing(
    app, server, settings, sessionmaker, cast: Cast, clock
):
    undone = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    kept = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(hours=2))
    bob = await dashboard(settings, sessionmaker, cast, clock)
    try:
        with pytest.raises(Undo):
            await check_in(app, cast, undone, clock.now, then=Undo)
        clock.advance(hours=2)
        await check_in(app, cast, kept, clock.now)
        # Notices go out in commit order: the later one arriving shows the first never came.
        (notice,) = await bob.wait_for("waiting_room")
        assert notice["visit_id"] == kept
        assert [v for v in bob.received("visit_status") if v["visit_id"] == undone] == []
    finally:
        await bob.close()


async def test_a_visit_cancelled_by_a_service_call_ends_its_call_at_once(
    app, server, settings, sessionmaker, cast: Cast, clock
):
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="waiting")
    alice = VisitsSocket(
        settings.public_url,
        await session_token(sessionmaker, cast.alice, visit_id=visit_id, now=clock.now),
    )
    bob = VisitsSocket(
        settings.public_url, await session_token(sessionmaker, cast.bob, now=clock.now)
    )
    try:
        await alice.connect()
        await bob.connect()
        assert (await alice.call("join", {"visit_id": visit_id}))["ok"] is True
        assert (await bob.call("join", {"visit_id": visit_id}))["ok"] is True
        scheduler = Actor(user_id=cast.sam.id, role=Role.scheduler, username=cast.sam.username)
        async with unit_of_work(app[SESSIONMAKER]) as session:
            await booking.cancel_visit(
                session, actor=scheduler, visit_id=visit_id, reason="Unwell", now=clock.now
            )
        # No signal was relayed, so no relay recheck: the commit itself ended the call.
        assert await alice.wait_for("visit_ended") == [{"visit_id": visit_id}]
        assert await bob.wait_for("visit_ended") == [{"visit_id": visit_id}]
    finally:
        await alice.close()
        await bob.close()
