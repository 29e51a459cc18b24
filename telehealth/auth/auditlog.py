"""Domain: the audit trail as it is read (administrators only, and each reading is itself an
entry): the raw search of the API, and as a privacy officer reads it, names beside ids, the
patient found by name or date of birth, the reason of each refusal in words, and a CSV export
that is itself an audited disclosure."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action, AuditEntry
from telehealth.auth.models import PatientProfile, Role, User
from telehealth.auth.policy import Actor, ensure_role
from telehealth.errors import InvalidInput

# What a refusal's recorded reason means, in words (join links, sign-ins, access checks).
REASONS = {
    "bad_token": "unknown or damaged link",
    "no_visit": "link to no visit",
    "superseded": "old link of a moved visit",
    "cancelled": "link of a cancelled visit",
    "too_early": "link opened too early",
    "visit_over": "link opened after the visit's time",
    "not_open": "link not open now",
    "too_many_tries": "locked link (too many wrong dates of birth)",
    "no_patient": "patient account inactive",
    "wrong_date_of_birth": "wrong date of birth",
}
MAX_PATIENT_MATCHES = 50


async def search(
    session: AsyncSession,
    *,
    patient_id: int | None = None,
    user_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    patient_ids: list[int] | None = None,
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if patient_id is not None:
        query = query.where(col(AuditEntry.patient_id) == patient_id)
    if patient_ids is not None:
        query = query.where(col(AuditEntry.patient_id).in_(patient_ids))
    if user_id is not None:
        query = query.where(col(AuditEntry.user_id) == user_id)
    if start is not None:
        query = query.where(col(AuditEntry.at) >= start)
    if end is not None:
        query = query.where(col(AuditEntry.at) < end)
    query = query.order_by(col(AuditEntry.seq).desc()).limit(limit)
    return list((await session.execute(query)).scalars().all())


async def read_trail(
    session: AsyncSession,
    *,
    actor: Actor,
    patient_id: int | None = None,
    user_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[AuditEntry]:
    """The trail as an administrator reads it (page or API): only an administrator may,
    and the reading is itself an entry."""
    ensure_role(actor, Role.admin)
    entries = await search(session, patient_id=patient_id, user_id=user_id, start=start, end=end)
    audit.record(session, Action.read, "audit_log", detail={"count": len(entries)})
    return entries


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    user_name: str | None
    patient_name: str | None
    reason: str | None


def _reason(entry: AuditEntry) -> str | None:
    detail = entry.detail if isinstance(entry.detail, dict) else {}
    code = detail.get("reason")
    if not isinstance(code, str):
        return None
    return REASONS.get(code, code.replace("_", " "))


def _as_date(text: str) -> date | None:
    for candidate in (text, _us_to_iso(text)):
        try:
            return date.fromisoformat(candidate) if candidate else None
        except ValueError:
            continue
    return None


def _us_to_iso(text: str) -> str | None:
    parts = text.split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and len(parts[2]) == 4:
        return f"{parts[2]}-{int(parts[0]):02d}-{int(parts[1]):02d}"
    return None


async def _patients_matching(session: AsyncSession, text: str) -> list[int]:
    """Patients whose name contains every word, or born on that date."""
    text = text.strip()
    if len(text) < 2 or len(text) > 100:
        raise InvalidInput(
            "Type at least 2 letters of the patient's name, or a date of birth.", field="patient"
        )
    query = select(col(User.id)).join(PatientProfile, col(PatientProfile.user_id) == col(User.id))
    born = _as_date(text)
    if born is not None:
        query = query.where(col(PatientProfile.date_of_birth) == born)
    else:
        for word in text.lower().split():
            escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(func.lower(User.full_name).like(f"%{escaped}%", escape="\\"))
    rows = await session.execute(query.limit(MAX_PATIENT_MATCHES))
    return [int(r) for r in rows.scalars().all() if r is not None]


async def read_audit_log(
    session: AsyncSession,
    *,
    actor: Actor,
    patient: str | None = None,
    patient_id: int | None = None,
    user_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    export: bool = False,
) -> list[AuditRow]:
    """Entries newest first, with names and reasons (administrators only). The reading is an
    entry itself; an export is recorded as a disclosure."""
    ensure_role(actor, Role.admin)
    patient_ids = await _patients_matching(session, patient) if patient else None
    entries = (
        []
        if patient_ids == []
        else await search(
            session,
            patient_id=patient_id,
            user_id=user_id,
            start=start,
            end=end,
            patient_ids=patient_ids,
        )
    )
    ids = {e.user_id for e in entries} | {e.patient_id for e in entries}
    known = {i for i in ids if i is not None}
    names: dict[int, str] = {}
    if known:
        rows = await session.execute(
            select(col(User.id), col(User.full_name)).where(col(User.id).in_(known))
        )
        names = {int(i): str(n) for i, n in rows.all() if i is not None}
    audit.record(
        session,
        Action.export if export else Action.read,
        "audit_log",
        detail={"count": len(entries), "format": "csv" if export else "page"},
    )
    return [
        AuditRow(
            entry=e,
            user_name=names.get(e.user_id) if e.user_id is not None else None,
            patient_name=names.get(e.patient_id) if e.patient_id is not None else None,
            reason=_reason(e),
        )
        for e in entries
    ]


CSV_COLUMNS = (
    "seq",
    "time_utc",
    "user_id",
    "user_name",
    "role",
    "action",
    "patient_id",
    "patient_name",
    "resource_type",
    "resource_id",
    "outcome",
    "reason",
    "source_address",
    "request_id",
)


def as_csv(rows: list[AuditRow]) -> str:
    """The rows as CSV (UTC times, ISO 8601). Cells that a spreadsheet would run as a formula
    are quoted with a leading apostrophe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        e = row.entry
        writer.writerow(
            [
                _cell(v)
                for v in (
                    e.seq,
                    e.at.isoformat(),
                    e.user_id,
                    row.user_name,
                    e.role,
                    e.action,
                    e.patient_id,
                    row.patient_name,
                    e.resource_type,
                    e.resource_id,
                    e.outcome,
                    row.reason,
                    e.source_address,
                    e.request_id,
                )
            ]
        )
    return out.getvalue()


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
