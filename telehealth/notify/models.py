"""Domain models: the outbox of visit emails."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from telehealth.db import UTCDateTime, enum_column, utcnow


class EmailKind(StrEnum):
    booked = "booked"
    rescheduled = "rescheduled"
    cancelled = "cancelled"
    reminder = "reminder"  # a day before the visit
    # To an administrator: a safety alert is still open (ids and a link only).
    safety_escalation = "safety_escalation"
    invitation = "invitation"  # the invitation sent again on request (a scheduler's)
    summary = "summary"  # the after-visit summary is ready (says so, no clinical text)


class EmailStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    sent = "sent"
    # The visit changed again before this one went: the newer message says it all.
    superseded = "superseded"
    failed = "failed"


class VisitEmail(SQLModel, table=True):
    """One email to a patient about one change to a visit (or to staff about an alert).

    It holds no message text, address or link: the mailer renders it when it sends, from the
    visit as it then stands, so nothing clinical or secret waits in this table.
    """

    __tablename__ = "visit_emails"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    patient_id: int = Field(foreign_key="users.id")
    kind: EmailKind = Field(sa_column=enum_column(EmailKind))
    visit_sequence: int
    # Set for messages to staff (an administrator): sent to that user, not to the patient.
    recipient_id: int | None = Field(default=None, foreign_key="users.id")
    alert_id: int | None = Field(default=None, foreign_key="safety_alerts.id")
    status: EmailStatus = Field(
        default=EmailStatus.pending,
        sa_column=enum_column(EmailStatus, default=EmailStatus.pending, index=True),
    )
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The kind of failure only (an exception class or an SMTP code), never a message text.
    last_error: str | None = Field(default=None, max_length=64)
