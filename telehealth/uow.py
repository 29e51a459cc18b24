"""Unit of work: one transaction, audit entries appended at commit, durable ones kept on error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], context: audit.AuditContext | None = None
) -> AsyncIterator[AsyncSession]:
    """Commit on success (after appending audit entries); roll back on error.

    On error the durable audit entries (refusals, failed logins) are written in a fresh
    transaction, so a refused action is recorded even though its change is undone.
    """
    async with sessionmaker() as session:
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
    session begins a new transaction when it is next used."""
    await audit.flush(session)
    await session.commit()
