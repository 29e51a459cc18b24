"""Domain models: questionnaire answers (draft, then submitted once) and safety alerts."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from telehealth.db import JSONType, UTCDateTime, enum_column, utcnow


class ResponseStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"


class QuestionnaireResponse(SQLModel, table=True):
    """One patient's answers to one instrument before one visit.

    A draft is saved as the patient goes; submitting scores it on the server and freezes it.
    """

    __tablename__ = "questionnaire_responses"
    __table_args__ = (UniqueConstraint("visit_id", "instrument"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    instrument: str = Field(sa_column=Column(String(20), nullable=False))
    # The instruments file version the answers were given against.
    instruments_version: str = Field(max_length=20)
    status: ResponseStatus = Field(
        default=ResponseStatus.draft,
        sa_column=enum_column(ResponseStatus, default=ResponseStatus.draft),
    )
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    score: int | None = None
    severity: str | None = Field(default=None, max_length=30)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class AlertKind(StrEnum):
    suicide_risk = "suicide_risk"


class AlertStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"


class AlertAction(StrEnum):
    reviewed_in_visit = "reviewed_in_visit"
    contacted_patient = "contacted_patient"
    emergency_services = "emergency_services"


class SafetyAlert(SQLModel, table=True):
    """An answer that needs a clinician the same day (PHQ-9 item 9 above 0).

    Written in the same transaction as the submission that raised it; open until the
    patient's prescriber (or an administrator) acknowledges it with an action and a note.
    """

    __tablename__ = "safety_alerts"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    # The visit's prescriber when the alert opened: whose dashboard shows it.
    prescriber_id: int = Field(foreign_key="users.id", index=True)
    response_id: int = Field(foreign_key="questionnaire_responses.id", unique=True)
    kind: AlertKind = Field(sa_column=enum_column(AlertKind))
    status: AlertStatus = Field(
        default=AlertStatus.open,
        sa_column=enum_column(AlertStatus, default=AlertStatus.open, index=True),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by_id: int | None = Field(default=None, foreign_key="users.id")
    # An AlertAction value once acknowledged.
    action: str | None = Field(default=None, max_length=30)
    note: str | None = Field(default=None, sa_column=Column(Text))

    @property
    def escalated(self) -> bool:
        """Sent on to every administrator because nobody acknowledged it in time."""
        return self.escalated_at is not None
