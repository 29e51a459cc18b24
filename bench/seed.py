"""Bench data, written straight through the project's services (no HTTP, no password per
request): a patient, a prescriber, their visits starting now, and a signed-in session each.

    .venv/bin/python bench/seed.py DATABASE_URL VISITS  -> JSON on stdout
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

from telehealth import audit
from telehealth.auth.accounts import create_user
from telehealth.auth.models import User
from telehealth.auth.npi import npi_with_check_digit
from telehealth.auth.sessions import start_session
from telehealth.config import Settings
from telehealth.db import make_engine, make_sessionmaker, utcnow
from telehealth.http.models.auth import NewUser
from telehealth.uow import unit_of_work
from telehealth.visits.models import Modality, Visit, VisitStatus, VisitType

PASSWORD = "bench-password-1"


async def seed(url: str, visits: int) -> dict[str, Any]:
    engine = make_engine(url)
    # The server's own audit key (the same TELEHEALTH_* environment): one chain.
    sessionmaker = make_sessionmaker(engine, audit_key=Settings().chain_key())
    now = utcnow()
    out: dict[str, Any] = {}
    async with unit_of_work(sessionmaker, audit.AuditContext(role="bench")) as session:
        patient: User = await create_user(
            session,
            actor=None,
            account=NewUser.model_validate(
                {
                    "username": "bench.patient",
                    "role": "patient",
                    "full_name": "Bench Patient",
                    "password": PASSWORD,
                    "date_of_birth": "1980-01-01",
                    "state": "NY",
                    "timezone": "UTC",
                }
            ).account(),
            now=now,
        )
        prescriber: User = await create_user(
            session,
            actor=None,
            account=NewUser.model_validate(
                {
                    "username": "bench.dr",
                    "role": "prescriber",
                    "full_name": "Dr Bench",
                    "password": PASSWORD,
                    "credential": "MD",
                    "npi": npi_with_check_digit("123456789"),
                    "licensed_states": ["NY"],
                    "timezone": "UTC",
                }
            ).account(),
            now=now,
        )
        # Direct inserts (no booking rules): visits that overlap are fine for relaying.
        ids = []
        for _ in range(visits):
            visit = Visit(
                patient_id=patient.id,
                prescriber_id=prescriber.id,
                visit_type=VisitType.follow_up,
                modality=Modality.telehealth,
                status=VisitStatus.booked,
                start=now + timedelta(minutes=2),
                end=now + timedelta(minutes=60),
            )
            session.add(visit)
            await session.flush()
            ids.append(visit.id)
        out["visits"] = ids
        out["patient_token"] = await start_session(
            session, user=patient, now=now, source_address="127.0.0.1"
        )
        out["prescriber_token"] = await start_session(
            session, user=prescriber, now=now, source_address="127.0.0.1"
        )
    await engine.dispose()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(seed(sys.argv[1], int(sys.argv[2])))))
