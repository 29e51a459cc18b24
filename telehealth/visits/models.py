"""Domain models: visits, their call events, notes, orders and the medication list."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from telehealth.db import JSONType, UTCDateTime, enum_column, utcnow


class VisitType(StrEnum):
    initial_evaluation = "initial_evaluation"
    follow_up = "follow_up"


class Modality(StrEnum):
    telehealth = "telehealth"
    in_person = "in_person"


class VisitStatus(StrEnum):
    booked = "booked"
    waiting = "waiting"
    in_progress = "in_progress"
    finished = "finished"
    cancelled = "cancelled"
    noshow = "noshow"


class Visit(SQLModel, table=True):
    __tablename__ = "visits"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    prescriber_id: int = Field(foreign_key="users.id", index=True)
    visit_type: VisitType = Field(sa_column=enum_column(VisitType))
    modality: Modality = Field(sa_column=enum_column(Modality))
    status: VisitStatus = Field(
        default=VisitStatus.booked,
        sa_column=enum_column(VisitStatus, default=VisitStatus.booked, index=True),
    )
    start: datetime = Field(sa_type=UTCDateTime, index=True)
    end: datetime = Field(sa_type=UTCDateTime)
    # Bumped on every reschedule or cancel: old join links and old invites stop matching.
    sequence: int = 0
    location_state: str | None = Field(default=None, max_length=2)
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    admitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text))
    booked_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class VisitEvent(SQLModel, table=True):
    """Lifecycle and call history of a visit: booked, rescheduled, joined, left, ..."""

    __tablename__ = "visit_events"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    kind: str = Field(max_length=32)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    role: str | None = Field(default=None, max_length=20)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)


class NoteStatus(StrEnum):
    draft = "draft"
    signed = "signed"


class VisitNote(SQLModel, table=True):
    __tablename__ = "visit_notes"

    visit_id: int = Field(foreign_key="visits.id", primary_key=True)
    subjective: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    objective: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    assessment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    plan: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    version: int = 0
    status: NoteStatus = Field(
        default=NoteStatus.draft, sa_column=enum_column(NoteStatus, default=NoteStatus.draft)
    )
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by_id: int | None = Field(default=None, foreign_key="users.id")
    signed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signed_by_id: int | None = Field(default=None, foreign_key="users.id")


class NoteRevision(SQLModel, table=True):
    """Every saved version of a note, kept forever."""

    __tablename__ = "note_revisions"
    __table_args__ = (UniqueConstraint("visit_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    version: int
    subjective: str = Field(sa_column=Column(Text, nullable=False))
    objective: str = Field(sa_column=Column(Text, nullable=False))
    assessment: str = Field(sa_column=Column(Text, nullable=False))
    plan: str = Field(sa_column=Column(Text, nullable=False))
    saved_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    saved_by_id: int = Field(foreign_key="users.id")


class NoteAddendum(SQLModel, table=True):
    __tablename__ = "note_addenda"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    author_id: int = Field(foreign_key="users.id")
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OrderStatus(StrEnum):
    active = "active"
    cancelled = "cancelled"
    completed = "completed"
    entered_in_error = "entered-in-error"


class MedicationOrder(SQLModel, table=True):
    __tablename__ = "medication_orders"

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    prescriber_id: int = Field(foreign_key="users.id")
    medication_id: str = Field(max_length=100)
    medication_name: str = Field(max_length=200)
    schedule: str | None = Field(default=None, max_length=4)
    schedule_basis: str | None = Field(default=None, max_length=200)
    dose: str = Field(max_length=100)
    route: str = Field(max_length=50)
    frequency: str = Field(max_length=100)
    quantity: str = Field(max_length=50)
    refills: int = 0
    instructions: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: OrderStatus = Field(
        default=OrderStatus.active,
        sa_column=enum_column(OrderStatus, default=OrderStatus.active),
    )
    catalogue_version: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Which branch of the in-person gate allowed it (telehealth.visits.gate.policy.Rule).
    gate_rule: str | None = Field(default=None, max_length=40)
    days_supply: int | None = None
    indication: str | None = Field(default=None, max_length=40)
    # The buprenorphine (OUD) pathway: the PDMP checked before prescribing, or that it was
    # unavailable (90 FR 6504).
    pdmp_state: str | None = Field(default=None, max_length=2)
    pdmp_checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    pdmp_unavailable: bool = False


class MedicationStatus(StrEnum):
    active = "active"
    stopped = "stopped"


class PatientMedication(SQLModel, table=True):
    """One line of a patient's current medication list."""

    __tablename__ = "patient_medications"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    medication_id: str = Field(max_length=100)
    medication_name: str = Field(max_length=200)
    dose: str = Field(max_length=100)
    route: str = Field(max_length=50)
    frequency: str = Field(max_length=100)
    status: MedicationStatus = Field(
        default=MedicationStatus.active,
        sa_column=enum_column(MedicationStatus, default=MedicationStatus.active),
    )
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MedicationEvent(SQLModel, table=True):
    """History of the medication list: started, dose changed, stopped; by whom and when."""

    __tablename__ = "medication_events"

    id: int | None = Field(default=None, primary_key=True)
    patient_medication_id: int = Field(foreign_key="patient_medications.id", index=True)
    kind: str = Field(max_length=20)
    dose: str | None = Field(default=None, max_length=100)
    frequency: str | None = Field(default=None, max_length=100)
    order_id: int | None = Field(default=None, foreign_key="medication_orders.id")
    actor_id: int = Field(foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class InPersonEvaluation(SQLModel, table=True):
    """An in-person evaluation recorded by attestation (finished in-person visits count too)."""

    __tablename__ = "in_person_evaluations"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="users.id", index=True)
    prescriber_id: int = Field(foreign_key="users.id", index=True)
    evaluated_on: date
    location: str = Field(max_length=200)
    attestation: str = Field(sa_column=Column(Text, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
