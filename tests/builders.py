"""Async builders for test data, and the personas as fixtures.

Alice is the patient, Bob the prescriber of her visit, Charlie another prescriber who must
see nothing of it; Sam schedules and Ada administers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.auth.models import User
from telehealth.auth.npi import npi_with_check_digit
from telehealth.auth.service import create_user
from telehealth.db import utcnow
from telehealth.uow import unit_of_work

PASSWORD = "correct-horse-battery"
_npis = itertools.count(100000001)


@dataclass
class Person:
    id: int
    username: str
    role: str
    password: str = PASSWORD


async def make_user(
    sessionmaker: async_sessionmaker[AsyncSession], role: str, username: str, **extra: Any
) -> Person:
    data: dict[str, Any] = {"username": username, "role": role,
                            "full_name": extra.pop("full_name", username.title()),
                            "password": extra.pop("password", PASSWORD)}
    if role == "patient":
        data.update(date_of_birth="1990-05-17", state="NY", timezone="America/New_York",
                    email=f"{username}@example.org")
    if role == "prescriber":
        data.update(credential="MD", npi=npi_with_check_digit(str(next(_npis))),
                    licensed_states=["NY", "NJ"], timezone="America/New_York")
    data.update(extra)
    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        user: User = await create_user(session, actor=None, data=data, now=utcnow())
    assert user.id is not None
    return Person(user.id, user.username, role, data.get("password") or "")


@dataclass
class Cast:
    alice: Person
    bob: Person
    charlie: Person
    sam: Person
    ada: Person
    dana: Person  # another patient


@pytest.fixture
async def cast(sessionmaker: async_sessionmaker[AsyncSession]) -> Cast:
    return Cast(
        alice=await make_user(sessionmaker, "patient", "alice", full_name="Alice Able"),
        bob=await make_user(sessionmaker, "prescriber", "bob", full_name="Dr Bob Baker"),
        charlie=await make_user(sessionmaker, "prescriber", "charlie",
                                full_name="Dr Charlie Chu"),
        sam=await make_user(sessionmaker, "scheduler", "sam"),
        ada=await make_user(sessionmaker, "admin", "ada"),
        dana=await make_user(sessionmaker, "patient", "dana", state="KY",
                             timezone="America/Chicago"),
    )


async def login(client: Any, person: Person) -> dict[str, Any]:
    response = await client.post("/api/session",
                                 json={"username": person.username, "password": person.password})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def iso(dt: datetime) -> str:
    return dt.isoformat()


async def make_visit(
    sessionmaker: async_sessionmaker[AsyncSession],
    patient: Person,
    prescriber: Person,
    start: datetime,
    *,
    minutes: int = 30,
    modality: str = "telehealth",
    visit_type: str = "follow_up",
    status: str = "booked",
    location_state: str | None = None,
) -> int:
    """Insert a visit directly (no booking rules): for tests of what happens after booking."""
    from datetime import timedelta

    from telehealth.visits.models import Modality, Visit, VisitStatus, VisitType

    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        visit = Visit(
            patient_id=patient.id, prescriber_id=prescriber.id,
            visit_type=VisitType(visit_type), modality=Modality(modality),
            status=VisitStatus(status), start=start, end=start + timedelta(minutes=minutes),
            location_state=location_state,
            checked_in_at=start if status in ("waiting", "in_progress", "finished") else None,
        )
        session.add(visit)
        await session.flush()
        assert visit.id is not None
        return visit.id
