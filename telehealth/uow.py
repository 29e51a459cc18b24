"""Unit of work: one transaction, audit entries appended at commit, durable ones kept on
error, and the transaction's domain events published once it has committed.

Domain events are plain values (`record_event`) that say what a transaction changed, for
whoever must act on it outside the database (the signaling server tells the call rooms).
They are kept with the transaction: a commit makes them due, a rollback forgets them, and
the unit of work hands the due ones to the subscribers of its sessionmaker (`subscribe`)
after the session is closed, so no handler has to remember to announce a change and a
change that did not commit announces nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, SessionTransaction

from telehealth import audit

log = logging.getLogger("telehealth.uow")

Subscriber = Callable[[Sequence[object]], Awaitable[None]]

# In session.info: the events of the open transaction, then those of committed ones.
_PENDING = "uow_events_pending"
_DUE = "uow_events_due"
# In the sessionmaker's info, shared by every session it makes.
_SUBSCRIBERS = "uow_subscribers"


def subscribe(sessionmaker: async_sessionmaker[AsyncSession], subscriber: Subscriber) -> None:
    """Hand the domain events of every unit of work on `sessionmaker` to `subscriber`, after
    their transaction commits (in the order they were recorded)."""
    info: dict[str, Any] = sessionmaker.kw.setdefault("info", {})
    info.setdefault(_SUBSCRIBERS, []).append(subscriber)


def collecting(session: Session | AsyncSession) -> bool:
    """Whether anyone will hear this session's events (no subscriber: nothing to collect)."""
    return bool(session.info.get(_SUBSCRIBERS))


def record_event(session: Session | AsyncSession, domain_event: object) -> None:
    """Add an event to the session's open transaction; it is published if that commits."""
    if collecting(session):
        session.info.setdefault(_PENDING, []).append(domain_event)


@event.listens_for(Session, "after_commit")
def _due_on_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        session.info.setdefault(_DUE, []).extend(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forgotten_on_rollback(session: Session, previous: SessionTransaction) -> None:
    # A savepoint's rollback (a booking's claim that collided) leaves the transaction and
    # what it recorded before; the transaction's own rollback undoes every change.
    if not previous.nested:
        session.info.pop(_PENDING, None)


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], context: audit.AuditContext | None = None
) -> AsyncIterator[AsyncSession]:
    """Commit on success (after appending audit entries); roll back on error.

    On error the durable audit entries (refusals, failed logins) are written in a fresh
    transaction, so a refused action is recorded even though its change is undone. What
    committed (the whole unit, or a part `commit_so_far` committed before an error) is
    published to the subscribers once the session is closed.
    """
    due: list[object] = []
    subscribers: list[Subscriber] = []
    try:
        async with sessionmaker() as session:
            subscribers = session.info.get(_SUBSCRIBERS) or []
            if context is not None:
                audit.set_context(session, context)
            try:
                yield session
                await audit.flush(session)
                await session.commit()
            except BaseException:
                durable = audit.take_durable(session)
                await session.rollback()
                if durable:
                    await _write_durable(sessionmaker, durable)
                raise
            finally:
                due = session.info.pop(_DUE, [])
    finally:
        if due:
            await _publish(subscribers, due)


async def _publish(subscribers: Sequence[Subscriber], events: list[object]) -> None:
    # The change is committed whatever a subscriber does: its failure is logged, not raised.
    for subscriber in subscribers:
        try:
            await subscriber(events)
        except Exception:
            log.exception("publishing domain events failed")


async def _write_durable(
    sessionmaker: async_sessionmaker[AsyncSession], entries: list[audit._Pending]
) -> None:
    async with sessionmaker() as session:
        audit.requeue(session, entries)
        await audit.flush(session)
        await session.commit()


async def commit_so_far(session: AsyncSession) -> None:
    """Commit what the request has done so far (with its audit entries) and end the
    transaction, before slow work that must hold no lock: on SQLite every transaction holds
    the write lock, so a password hash inside one would stall every other request. The
    session begins a new transaction when it is next used. Its events are published when
    the unit of work ends."""
    await audit.flush(session)
    await session.commit()
