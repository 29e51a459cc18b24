"""Domain: emails that tell a patient their visit was booked, moved or cancelled.

The outbox row is written in the same transaction as the change it announces, so a booking
that fails sends nothing and one that commits is announced once. The row holds no text: the
mailer renders the message when it sends, from the visit as it then stands. A message for an
older sequence of the visit (it moved again before the first email went) is superseded, and
one about a visit that is already over is not sent at all.

The messages say who the visit is with, when (in the patient's zone, named) and how to join.
Like the calendar invite they carry no diagnosis, medication or reason for the visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.models import PatientProfile
from telehealth.notify import ics
from telehealth.notify.models import EmailKind, EmailStatus, VisitEmail
from telehealth.timefmt import format_local
from telehealth.visits.models import Modality, Visit, VisitStatus

MAX_ATTEMPTS = 8
# Reminders go this long before the start; none when the visit is booked closer than
# REMINDER_BEFORE + REMINDER_MIN_GAP (the booking email has only just gone).
REMINDER_BEFORE = timedelta(hours=24)
REMINDER_MIN_GAP = timedelta(hours=2)
# A claimed message not reported back within this time (its process died) is tried again.
LEASE = timedelta(minutes=10)


async def queue_visit_email(
    session: AsyncSession,
    visit: Visit,
    kind: EmailKind,
    now: datetime,
    *,
    send_at: datetime | None = None,
) -> VisitEmail | None:
    """Queue the email for this change, in the caller's transaction; None when the patient
    has no email address on file."""
    profile = await session.get(PatientProfile, visit.patient_id)
    if profile is None or not profile.email:
        return None
    assert visit.id is not None
    row = VisitEmail(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        kind=kind,
        visit_sequence=visit.sequence,
        next_attempt_at=send_at or now,
        created_at=now,
    )
    session.add(row)
    return row


async def queue_reminder(session: AsyncSession, visit: Visit, now: datetime) -> None:
    """Queue the reminder a day before the visit. Moving or cancelling the visit bumps its
    sequence, which supersedes the reminder; a move queues a new one for the new time."""
    send_at = visit.start - REMINDER_BEFORE
    if send_at - now >= REMINDER_MIN_GAP:
        await queue_visit_email(session, visit, EmailKind.reminder, now, send_at=send_at)


async def claim_due(session: AsyncSession, *, now: datetime, limit: int = 20) -> list[int]:
    """Take up to `limit` messages that are due, so no other process sends them too."""
    rows = await session.execute(
        select(col(VisitEmail.id))
        .where(
            col(VisitEmail.status).in_((EmailStatus.pending, EmailStatus.sending)),
            col(VisitEmail.next_attempt_at) <= now,
        )
        .order_by(col(VisitEmail.id))
        .limit(limit)
    )
    claimed: list[int] = []
    for email_id in rows.scalars().all():
        if email_id is None:  # pragma: no cover - a primary key is never null
            continue
        # A conditional update: of two processes reaching the same row, one wins.
        result = await session.execute(
            update(VisitEmail)
            .where(
                col(VisitEmail.id) == email_id,
                col(VisitEmail.status).in_((EmailStatus.pending, EmailStatus.sending)),
                col(VisitEmail.next_attempt_at) <= now,
            )
            .values(status=EmailStatus.sending, next_attempt_at=now + LEASE)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(email_id)
    return claimed


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    text: str
    invite: bytes | None  # text/calendar; none for a message that is not about the time
    invite_method: str  # PUBLISH or CANCEL


def compose(
    visit: Visit,
    kind: EmailKind,
    *,
    to: str,
    prescriber_name: str,
    timezone: str,
    join_url: str | None,
    precall_url: str | None,
    host: str,
    now: datetime,
    questionnaire_url: str | None = None,
) -> Message:
    """The email for a change to a visit, in the patient's own zone."""
    if kind is EmailKind.summary:
        return compose_summary_ready(
            visit, to=to, prescriber_name=prescriber_name, timezone=timezone, join_url=join_url
        )
    when = format_local(visit.start, timezone)
    video = visit.modality is Modality.telehealth
    what = "video visit" if video else "in-person visit"
    invite = ics.build_invite(
        visit, with_name=prescriber_name, timezone=timezone, join_url=join_url, host=host, now=now
    )
    lines = ["Hello,", ""]
    if kind is EmailKind.cancelled:
        subject = f"Cancelled: your {what} on {when}"
        lines += [
            f"Your {what} with {prescriber_name} on {when} has been cancelled.",
            "Its link no longer works. Contact the practice to book another time.",
        ]
    else:
        if kind is EmailKind.rescheduled:
            subject = f"Moved: your {what} is now on {when}"
            lines.append(f"Your {what} with {prescriber_name} has moved to {when}.")
            lines.append("Any earlier link or invitation for it no longer works.")
        elif kind is EmailKind.invitation:
            subject = f"Your invitation: {what} on {when}"
            lines.append(f"As asked, here is your invitation again: your {what} with")
            lines.append(f"{prescriber_name} on {when}.")
        elif kind is EmailKind.reminder:
            subject = f"Reminder: your {what} on {when}"
            lines.append(f"A reminder of your {what} with {prescriber_name} on {when}.")
            lines.append("If you cannot make it, contact the practice to change it.")
        else:
            subject = f"Booked: your {what} on {when}"
            lines.append(f"Your {what} with {prescriber_name} is booked for {when}.")
        lines.append("")
        if video and join_url:
            lines += [
                "Join from this link, from 30 minutes before the start:",
                join_url,
                "You will be asked for your date of birth. Nothing to install: a browser with",
                "a camera and a microphone is enough.",
            ]
            if precall_url:
                lines += ["", f"Check your camera and connection beforehand: {precall_url}"]
        else:
            lines.append("Please arrive 10 minutes early.")
        if questionnaire_url:
            lines += [
                "",
                "Before the visit, please answer a few short questions about how you have",
                "been (about 3 minutes; your prescriber reviews them with you):",
                questionnaire_url,
            ]
        lines += ["", "The attached invitation adds the visit to your calendar."]
    lines += ["", "Please do not reply to this email: the mailbox is not read."]
    return Message(
        to=to,
        subject=subject,
        text="\n".join(lines) + "\n",
        invite=invite,
        invite_method="CANCEL" if visit.status is VisitStatus.cancelled else "PUBLISH",
    )


def compose_escalation(
    *, to: str, alert_id: int, minutes: int, alerts_url: str, invite: bytes = b""
) -> Message:
    """The email to an administrator about a safety alert nobody has acknowledged: its number
    and a link only. Who the patient is and what they answered stay behind the sign-in."""
    text = "\n".join(
        [
            "Hello,",
            "",
            f"Safety alert number {alert_id} has been open for more than {minutes} minutes",
            "and nobody has acknowledged it yet. It needs a clinician's attention today.",
            "",
            "Sign in to see it and act on it:",
            alerts_url,
            "",
            "Please do not reply to this email: the mailbox is not read.",
        ]
    )
    return Message(
        to=to,
        subject=f"Safety alert {alert_id} needs attention",
        text=text + "\n",
        invite=invite,
        invite_method="",
    )


def compose_summary_ready(
    visit: Visit, *, to: str, prescriber_name: str, timezone: str, join_url: str | None
) -> Message:
    """Says the after-visit summary can be read, and where; never what it says."""
    when = format_local(visit.start, timezone)
    lines = [
        "Hello,",
        "",
        f"The summary of your visit with {prescriber_name} on {when} is ready.",
        "",
    ]
    if join_url:
        lines += [
            "Open it from your visit link (you will be asked for your date of birth):",
            join_url,
            "or sign in to the patient portal.",
        ]
    else:
        lines.append("Sign in to the patient portal to read it.")
    lines += ["", "Please do not reply to this email: the mailbox is not read."]
    return Message(
        to=to,
        subject="Your visit summary is ready",
        text="\n".join(lines) + "\n",
        invite=None,
        invite_method="PUBLISH",
    )


def still_worth_sending(row: VisitEmail, visit: Visit | None, now: datetime) -> str | None:
    """Why this message should not go (a short code), or None when it should."""
    if visit is None:
        return "visit_gone"
    if row.kind is EmailKind.summary:
        # The visit is over by then; a summary is worth announcing whenever it is signed.
        return None
    if row.visit_sequence != visit.sequence:
        return "superseded"
    if row.kind is not EmailKind.cancelled and visit.end <= now:
        return "visit_over"
    if row.kind is not EmailKind.cancelled and visit.status is not VisitStatus.booked:
        return "visit_under_way"  # checked in, running or over: the patient knows already
    return None


def mark_skipped(row: VisitEmail, reason: str) -> None:
    row.status = EmailStatus.superseded
    row.last_error = reason


def _audit_delivery(
    session: AsyncSession, row: VisitEmail, outcome: Outcome, **extra: object
) -> None:
    detail = {"visit_id": row.visit_id, "kind": row.kind.value, **extra}
    audit.record(
        session,
        Action.export,
        "visit_email",
        row.id,
        patient_id=row.patient_id,
        outcome=outcome,
        detail=detail,
    )


def mark_sent(session: AsyncSession, row: VisitEmail, now: datetime) -> None:
    row.status = EmailStatus.sent
    row.sent_at = now
    row.attempts += 1
    row.last_error = None
    _audit_delivery(session, row, Outcome.success, sequence=row.visit_sequence)


def mark_failed_attempt(session: AsyncSession, row: VisitEmail, now: datetime, error: str) -> None:
    """Try again later (1, 2, 4 ... minutes, at most an hour apart); give up after
    MAX_ATTEMPTS, with an audited failure an administrator can find."""
    row.attempts += 1
    row.last_error = error[:64]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = EmailStatus.failed
        _audit_delivery(session, row, Outcome.failure, error=row.last_error)
        return
    row.status = EmailStatus.pending
    row.next_attempt_at = now + min(timedelta(minutes=2 ** (row.attempts - 1)), timedelta(hours=1))
