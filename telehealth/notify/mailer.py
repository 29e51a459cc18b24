"""Domain: delivery of the visit emails in the outbox, over SMTP.

One task per server process. It wakes after any change a request commits and every few
seconds, claims the messages that are due (a conditional update, so two processes never send
the same one), renders each from the visit as it stands, sends it, and records the result:
sent and audited, skipped (the visit moved again or is over), or tried again later with a
growing pause. The log names message ids and error kinds, never an address or a text.

What a message says can depend on packages above this one (whether the visit still asks
questionnaires, whether a safety alert still exists): the mailer asks them through
`MailFacts`, which the application wires in (`telehealth.measures.mailfacts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.auth.models import PatientProfile, User
from telehealth.config import Settings
from telehealth.notify import outbox
from telehealth.notify.models import EmailKind, VisitEmail
from telehealth.uow import unit_of_work
from telehealth.visits import joinlinks
from telehealth.visits.models import Modality, Visit

log = logging.getLogger("telehealth.mail")

POLL_SECONDS = 5.0
SEND_TIMEOUT_SECONDS = 30.0


def tls_mode(scheme: str, host: str | None) -> tuple[bool, bool | None]:
    """(implicit TLS, STARTTLS) for aiosmtplib. The message carries a join link and a visit
    time: off this machine it goes over TLS or not at all; a relay on loopback (a local
    postfix) may take it in the clear (None: STARTTLS if offered)."""
    if scheme == "smtps":
        return True, False
    return False, None if host in ("localhost", "127.0.0.1", "::1") else True


class MailFacts(Protocol):
    """What a message needs to know from the packages above notify."""

    async def questionnaires_pending(self, session: AsyncSession, visit: Visit) -> bool:
        """Whether the visit still asks questionnaires the patient has not submitted."""
        ...

    async def alert_exists(self, session: AsyncSession, alert_id: int) -> bool:
        """Whether the safety alert an escalation email is about still exists."""
        ...


class Mailer:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime],
        facts: MailFacts,
    ) -> None:
        assert settings.smtp_url is not None
        self.settings = settings
        self.facts = facts
        self.sessionmaker = sessionmaker
        self.clock = clock
        self._smtp = urlsplit(settings.smtp_url)
        host = urlsplit(settings.base_url).hostname or "localhost"
        self.host = host
        self.sender = settings.mail_from or formataddr(("Telehealth", f"no-reply@{host}"))
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail delivery round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()

    # -- one round -------------------------------------------------------------------------

    async def deliver_due(self) -> int:
        """Send what is due now; return how many messages went out."""
        context = audit.AuditContext(role="system", request_id="mailer")
        async with unit_of_work(self.sessionmaker, context) as session:
            claimed = await outbox.claim_due(session, now=self.clock())
        sent = 0
        for email_id in claimed:
            sent += await self._deliver(email_id)
        return sent

    async def _deliver(self, email_id: int) -> int:
        context = audit.AuditContext(role="system", request_id="mailer")
        async with unit_of_work(self.sessionmaker, context) as session:
            row = await session.get(VisitEmail, email_id)
            if row is None:
                return 0
            now = self.clock()
            visit = await session.get(Visit, row.visit_id)
            if row.kind is EmailKind.safety_escalation:
                alive = row.alert_id is not None and await self.facts.alert_exists(
                    session, row.alert_id
                )
                reason = None if alive else "alert_gone"
            else:
                reason = outbox.still_worth_sending(row, visit, now)
            if reason is not None or visit is None:
                outbox.mark_skipped(row, reason or "visit_gone")
                return 0
            try:
                message = await self._compose(session, row, visit, now)
                if message is None:
                    outbox.mark_skipped(row, "no_address")
                    return 0
                await self._send(message)
            except Exception as exc:  # a refusal, a network fault, a message that won't build
                code = getattr(exc, "code", None)
                error = type(exc).__name__ + (f":{code}" if code else "")
                log.warning(
                    "mail not sent; will retry",
                    extra={"email_id": email_id, "error": error, "attempt": row.attempts + 1},
                )
                outbox.mark_failed_attempt(session, row, now, error)
                return 0
            outbox.mark_sent(session, row, now)
            log.info("mail sent", extra={"email_id": email_id, "kind": row.kind.value})
            return 1

    async def _compose(
        self, session: AsyncSession, row: VisitEmail, visit: Visit, now: datetime
    ) -> outbox.Message | None:
        if row.kind is EmailKind.safety_escalation:
            staff = await session.get(User, row.recipient_id) if row.recipient_id else None
            if staff is None or not staff.email or not staff.is_active or row.alert_id is None:
                return None
            return outbox.compose_escalation(
                to=staff.email,
                alert_id=row.alert_id,
                minutes=self.settings.safety_escalation_minutes,
                alerts_url=f"{self.settings.base_url}/alerts",
            )
        profile = await session.get(PatientProfile, row.patient_id)
        prescriber = await session.get(User, visit.prescriber_id)
        if profile is None or not profile.email or prescriber is None:
            return None
        video = visit.modality is Modality.telehealth
        live = row.kind is not EmailKind.cancelled
        base = self.settings.base_url
        pending = live and await self.facts.questionnaires_pending(session, visit)
        return outbox.compose(
            visit,
            row.kind,
            to=profile.email,
            prescriber_name=prescriber.full_name,
            timezone=profile.timezone,
            join_url=(
                joinlinks.join_url(base, visit, self.settings.secret_key)
                if video and live
                else None
            ),
            precall_url=f"{base}/precall" if video and live else None,
            host=self.host,
            now=now,
            questionnaire_url=(
                joinlinks.questionnaire_url(base, visit, self.settings.secret_key)
                if pending
                else None
            ),
        )

    async def _send(self, message: outbox.Message) -> None:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Message-ID"] = make_msgid(domain=self.host)
        email["Auto-Submitted"] = "auto-generated"
        email.set_content(message.text)
        if message.invite:
            email.add_attachment(
                message.invite,
                maintype="text",
                subtype="calendar",
                filename="visit.ics",
                params={"method": message.invite_method},
            )
        smtp = self._smtp
        implicit_tls, start_tls = tls_mode(smtp.scheme, smtp.hostname)
        await aiosmtplib.send(
            email,
            hostname=smtp.hostname,
            port=smtp.port or (465 if implicit_tls else 25),
            username=unquote(smtp.username) if smtp.username else None,
            password=unquote(smtp.password) if smtp.password else None,
            use_tls=implicit_tls,
            start_tls=start_tls,
            timeout=SEND_TIMEOUT_SECONDS,
        )
