"""Domain: escalation of safety alerts nobody acknowledged in time (`measures.alerts`).

One task per server process wakes every few seconds, escalates what is due in one
transaction (a conditional update per alert, so with several processes exactly one takes
each), then pushes each escalated alert to the administrators' dashboards and wakes the
mailer for their emails. The clock is injected: tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.measures import alerts
from telehealth.uow import unit_of_work

log = logging.getLogger("telehealth.escalation")

POLL_SECONDS = 10.0


class Escalator:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        *,
        after_minutes: int,
        notify: Callable[[list[int]], Awaitable[None]],
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.after = timedelta(minutes=after_minutes)
        self.notify = notify
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _run(self) -> None:
        while True:
            # Sleep first: a process that has just started (or a test's short-lived server)
            # does not take the database's write lock while it is being set up.
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("safety alert escalation round failed")

    async def run_once(self) -> list[int]:
        """Escalate what is due now; return the ids this process escalated."""
        context = audit.AuditContext(role="system", request_id="escalation")
        async with unit_of_work(self.sessionmaker, context) as session:
            escalated = await alerts.escalate_due(session, now=self.clock(), after=self.after)
            ids = [a.id for a in escalated if a.id is not None]
        if ids:
            log.warning("safety alerts escalated", extra={"alert_ids": ids})
            await self.notify(ids)
        return ids
