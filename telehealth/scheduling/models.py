"""Domain models: weekly availability, date exceptions and the time claims behind booking."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from telehealth.db import UTCDateTime


class AvailabilityRule(SQLModel, table=True):
    """A weekly range in the prescriber's own time zone (Monday is 0)."""

    __tablename__ = "availability_rules"

    id: int | None = Field(default=None, primary_key=True)
    prescriber_id: int = Field(foreign_key="users.id", index=True)
    weekday: int
    start_time: str = Field(max_length=5)
    end_time: str = Field(max_length=5)


class AvailabilityException(SQLModel, table=True):
    """A date that differs from the template: time off (no times) or extra/replacement hours."""

    __tablename__ = "availability_exceptions"

    id: int | None = Field(default=None, primary_key=True)
    prescriber_id: int = Field(foreign_key="users.id", index=True)
    on_date: date
    available: bool = True
    start_time: str | None = Field(default=None, max_length=5)
    end_time: str | None = Field(default=None, max_length=5)


class TimeClaim(SQLModel, table=True):
    """One fixed-size cell of a person's time held by an active visit.

    The unique constraint is what makes double-booking impossible: two visits that overlap
    for the same prescriber or patient would need the same (party, cell) row.
    """

    __tablename__ = "time_claims"
    __table_args__ = (UniqueConstraint("party", "party_id", "cell_start"),)

    id: int | None = Field(default=None, primary_key=True)
    visit_id: int = Field(foreign_key="visits.id", index=True)
    party: str = Field(sa_column=Column(String(12), nullable=False))
    party_id: int
    cell_start: datetime = Field(sa_type=UTCDateTime)
