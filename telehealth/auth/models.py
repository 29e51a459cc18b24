"""Domain models: users, their profiles, and server-side sessions."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from telehealth.db import JSONType, UTCDateTime, enum_column, utcnow


class Role(StrEnum):
    patient = "patient"
    prescriber = "prescriber"
    scheduler = "scheduler"
    admin = "admin"


class Credential(StrEnum):
    MD = "MD"
    DO = "DO"
    NP = "NP"
    PA = "PA"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(150), unique=True, nullable=False))
    password_hash: str | None = Field(default=None, max_length=255)
    role: Role = Field(sa_column=enum_column(Role, index=True))
    full_name: str = Field(max_length=200)
    # Staff contact address (safety escalations); a patient's is on their profile.
    email: str | None = Field(default=None, max_length=254)
    is_active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PatientProfile(SQLModel, table=True):
    __tablename__ = "patient_profiles"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    date_of_birth: date
    state: str = Field(max_length=2)
    timezone: str = Field(max_length=64)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    allergies: list[str] = Field(default_factory=list, sa_type=JSONType)
    intake_medications: list[str] = Field(default_factory=list, sa_type=JSONType)


class PrescriberProfile(SQLModel, table=True):
    __tablename__ = "prescriber_profiles"

    user_id: int = Field(foreign_key="users.id", primary_key=True)
    credential: Credential = Field(sa_column=enum_column(Credential))
    npi: str = Field(sa_column=Column(String(10), unique=True, nullable=False))
    licensed_states: list[str] = Field(default_factory=list, sa_type=JSONType)
    timezone: str = Field(max_length=64)
    supervising_prescriber_id: int | None = Field(default=None, foreign_key="users.id")
    buffer_minutes: int = 0
    # A practitioner of the Department of Veterans Affairs acting in that role (90 FR 6523).
    va_practitioner: bool = False


class CoverageAssignment(SQLModel, table=True):
    """One prescriber covers for another, at the other's request, for a span of days
    (21 U.S.C. 802(54)(D)/829(e)(2)(C): the covering practitioner route)."""

    __tablename__ = "coverage_assignments"

    id: int | None = Field(default=None, primary_key=True)
    covering_prescriber_id: int = Field(foreign_key="users.id", index=True)
    covered_prescriber_id: int = Field(foreign_key="users.id", index=True)
    starts_on: date
    ends_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")


class UserSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    user_id: int = Field(foreign_key="users.id", index=True)
    # Set for sessions opened through a join link: they reach that one visit only.
    visit_id: int | None = Field(default=None, foreign_key="visits.id")
    # The visit's sequence when the link was opened: a move or cancellation ends the session.
    visit_sequence: int | None = None
    # What a join-link session may do: None, the visit; "questionnaires", only answer the
    # visit's questionnaires (opened before the call window, from the reminder email).
    purpose: str | None = Field(default=None, max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = Field(default=None, max_length=20)
    source_address: str | None = Field(default=None, max_length=64)


class JoinAttempt(SQLModel, table=True):
    """Failed date-of-birth answers per join link, to limit guessing."""

    __tablename__ = "join_attempts"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
