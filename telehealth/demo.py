"""Demo data: a small practice to click through. Safe to run again (existing rows are kept)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from telehealth import audit
from telehealth.auth.accounts import create_user
from telehealth.auth.models import User
from telehealth.auth.npi import npi_with_check_digit
from telehealth.config import Settings
from telehealth.db import utcnow
from telehealth.http.models.auth import NewUser
from telehealth.http.schema import validate
from telehealth.scheduling.availability import set_availability
from telehealth.scheduling.slots import WeeklyRange, parse_range
from telehealth.uow import unit_of_work

DEMO_PASSWORD = "demo-password-1"  # noqa: S105 (printed on purpose: demo data only)

STAFF: list[dict[str, Any]] = [
    {
        "username": "admin",
        "role": "admin",
        "full_name": "Avery Admin",
        "email": "admin@example.org",
    },
    {"username": "scheduler", "role": "scheduler", "full_name": "Sam Scheduler"},
    {
        "username": "dr.rivera",
        "role": "prescriber",
        "full_name": "Dr. Elena Rivera, MD",
        "credential": "MD",
        "npi": npi_with_check_digit("123456789"),
        "licensed_states": ["NY", "NJ", "FL"],
        "timezone": "America/New_York",
    },
    {
        "username": "pa.chen",
        "role": "prescriber",
        "full_name": "Marcus Chen, PA-C",
        "credential": "PA",
        "npi": npi_with_check_digit("198765432"),
        "licensed_states": ["FL"],
        "timezone": "America/New_York",
        "supervisor": "dr.rivera",
    },
]
PATIENTS: list[dict[str, Any]] = [
    {
        "username": "alice",
        "full_name": "Alice Patient",
        "date_of_birth": "1988-04-12",
        "state": "NY",
        "timezone": "America/New_York",
        "email": "alice@example.org",
        "allergies": ["penicillin"],
        "current_medications": ["sertraline 100 mg daily"],
    },
    {
        "username": "bruno",
        "full_name": "Bruno Okafor",
        "date_of_birth": "1979-09-30",
        "state": "FL",
        "timezone": "America/New_York",
        "email": "bruno@example.org",
        "allergies": [],
        "current_medications": [],
    },
    {
        "username": "carmen",
        "full_name": "Carmen Diaz",
        "date_of_birth": "2001-01-22",
        "state": "NJ",
        "timezone": "America/New_York",
        "email": "carmen@example.org",
        "allergies": ["sulfa drugs"],
        "current_medications": ["bupropion XL 150 mg"],
    },
    {
        "username": "dev",
        "full_name": "Dev Raman",
        "date_of_birth": "1995-06-05",
        "state": "CA",
        "timezone": "America/Los_Angeles",
        "email": "dev@example.org",
        "allergies": [],
        "current_medications": [],
    },
]

# Monday to Friday, 09:00-12:00 and 13:00-17:00 in each prescriber's own zone.
WEEKLY = [
    WeeklyRange(d, parse_range(s, e, "demo hours"))
    for d in range(5)
    for s, e in (("09:00", "12:00"), ("13:00", "17:00"))
]


async def _by_username(session: AsyncSession, username: str) -> User | None:
    result = await session.execute(select(User).where(col(User.username) == username))
    return result.scalar_one_or_none()


async def seed_demo(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    context = audit.AuditContext(role="operator", source_address="demo")
    created = 0
    async with unit_of_work(sessionmaker, context) as session:
        for spec in STAFF + [{**p, "role": "patient"} for p in PATIENTS]:
            if await _by_username(session, spec["username"]) is not None:
                continue
            data = {k: v for k, v in spec.items() if k != "supervisor"}
            data["password"] = DEMO_PASSWORD
            if "supervisor" in spec:
                supervisor = await _by_username(session, spec["supervisor"])
                assert supervisor is not None
                data["supervising_prescriber_id"] = supervisor.id
            account = validate(NewUser, data).account()
            await create_user(session, actor=None, account=account, now=utcnow())
            created += 1
        await _seed_availability(session)
    print(f"Demo data ready ({created} accounts created). Sign in at {settings.base_url}/login")
    print(f"Every demo account's password is: {DEMO_PASSWORD}")
    print("  admin       administrator (audit log)")
    print("  scheduler   books, moves and cancels visits")
    print("  dr.rivera   psychiatrist (MD), licensed in NY, NJ, FL")
    print("  pa.chen     physician assistant, licensed in FL, supervised by dr.rivera")
    print("  alice, bruno, carmen, dev   patients (NY, FL, NJ, CA)")
    return 0


async def _seed_availability(session: AsyncSession) -> None:
    for username in ("dr.rivera", "pa.chen"):
        prescriber = await _by_username(session, username)
        assert prescriber is not None
        assert prescriber.id is not None
        await set_availability(
            session,
            actor=None,
            prescriber_id=prescriber.id,
            weekly=WEEKLY,
            exceptions=[],
            only_if_empty=True,
        )
