"""Domain: what the visit emails need to know from measures (`notify.mailer.MailFacts`).

The mailer sits below measures, so it cannot ask it directly; the application hands it this.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.config import Settings
from telehealth.measures.models import SafetyAlert
from telehealth.measures.questionnaires import MeasuresPolicy, pending_for_visit
from telehealth.visits.models import Visit


@dataclass(frozen=True)
class MeasuresMailFacts:
    policy: MeasuresPolicy

    @classmethod
    def from_settings(cls, settings: Settings) -> MeasuresMailFacts:
        return cls(MeasuresPolicy.from_settings(settings))

    async def questionnaires_pending(self, session: AsyncSession, visit: Visit) -> bool:
        return bool(await pending_for_visit(session, visit, self.policy))

    async def alert_exists(self, session: AsyncSession, alert_id: int) -> bool:
        return await session.get(SafetyAlert, alert_id) is not None
