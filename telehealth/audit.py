"""Domain: the append-only, hash-chained audit trail (HIPAA 45 CFR 164.312(b)).

Services call `record()`; entries are buffered on the session and written by `flush()`
just before commit, so the chain head is locked only for the instant of the commit.
Entries marked `durable` (refusals, failed logins) are written even when the transaction
that produced them rolls back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Column, String, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col, select

from telehealth.db import JSONType, UTCDateTime, utcnow

GENESIS = "0" * 64
_PENDING = "audit_pending"
_CONTEXT = "audit_context"


class Action(StrEnum):
    create = "create"
    read = "read"
    update = "update"
    delete = "delete"
    login = "login"
    logout = "logout"
    print = "print"
    export = "export"
    access_denied = "access-denied"


class Outcome(StrEnum):
    success = "success"
    failure = "failure"


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_entries"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    user_id: int | None = Field(default=None, index=True)
    role: str | None = Field(default=None, max_length=20)
    action: str = Field(sa_column=Column(String(20), nullable=False))
    patient_id: int | None = Field(default=None, index=True)
    resource_type: str = Field(max_length=40)
    resource_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=10)
    source_address: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    # Ids, codes and rule names only: never names, notes, dates of birth or drug text.
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class AuditHead(SQLModel, table=True):
    """The last link of the chain; its row lock serialises writers on PostgreSQL."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(default=GENESIS, sa_column=Column(Text, nullable=False))


@dataclass
class AuditContext:
    """Who is acting and from where; set once per request, command or socket event."""

    user_id: int | None = None
    role: str | None = None
    source_address: str | None = None
    request_id: str | None = None


@dataclass
class _Pending:
    action: Action
    resource_type: str
    resource_id: str | None
    patient_id: int | None
    outcome: Outcome
    detail: dict[str, Any]
    durable: bool
    at: datetime
    context: AuditContext = field(default_factory=AuditContext)


def set_context(session: AsyncSession, context: AuditContext) -> None:
    session.info[_CONTEXT] = context


def get_context(session: AsyncSession) -> AuditContext:
    ctx = session.info.get(_CONTEXT)
    if not isinstance(ctx, AuditContext):
        ctx = AuditContext()
        session.info[_CONTEXT] = ctx
    return ctx


def record(
    session: AsyncSession,
    action: Action,
    resource_type: str,
    resource_id: object | None = None,
    *,
    patient_id: int | None = None,
    outcome: Outcome = Outcome.success,
    detail: dict[str, Any] | None = None,
    durable: bool = False,
    user_id: int | None = None,
    role: str | None = None,
) -> None:
    """Queue an entry for this transaction. `durable` entries survive a rollback."""
    ctx = get_context(session)
    if user_id is not None or role is not None:
        ctx = AuditContext(
            user_id=user_id if user_id is not None else ctx.user_id,
            role=role if role is not None else ctx.role,
            source_address=ctx.source_address,
            request_id=ctx.request_id,
        )
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(
        _Pending(
            action=action,
            resource_type=resource_type,
            resource_id=None if resource_id is None else str(resource_id),
            patient_id=patient_id,
            outcome=outcome,
            detail=dict(detail or {}),
            durable=durable,
            at=utcnow(),
            context=ctx,
        )
    )


def take_durable(session: AsyncSession) -> list[_Pending]:
    """After a rollback: the entries that must still be written, cleared from the session."""
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    return [p for p in pending if p.durable]


def requeue(session: AsyncSession, entries: Sequence[_Pending]) -> None:
    session.info.setdefault(_PENDING, []).extend(entries)


def entry_digest(fields: dict[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def entry_fields(entry: AuditEntry) -> dict[str, Any]:
    """The fields the hash covers; also what the API shows of an entry."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "user_id": entry.user_id,
        "role": entry.role,
        "action": entry.action,
        "patient_id": entry.patient_id,
        "resource_type": entry.resource_type,
        "resource_id": entry.resource_id,
        "outcome": entry.outcome,
        "source_address": entry.source_address,
        "request_id": entry.request_id,
        "detail": entry.detail,
    }


async def flush(session: AsyncSession) -> None:
    """Append the queued entries to the chain. Call right before commit."""
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    head = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1).with_for_update())
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    prev = head.hash
    seq = head.seq
    for p in pending:
        seq += 1
        entry = AuditEntry(
            seq=seq,
            at=p.at,
            user_id=p.context.user_id,
            role=p.context.role,
            action=p.action.value,
            patient_id=p.patient_id,
            resource_type=p.resource_type,
            resource_id=p.resource_id,
            outcome=p.outcome.value,
            source_address=p.context.source_address,
            request_id=p.context.request_id,
            detail=p.detail,
            prev_hash=prev,
            hash="",
        )
        entry.hash = entry_digest(entry_fields(entry), prev)
        prev = entry.hash
        session.add(entry)
    head.seq = seq
    head.hash = prev
    await session.flush()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


async def verify(session: AsyncSession, batch: int = 5000) -> VerifyResult:
    """Walk the chain; report the first altered, missing or reordered entry."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        rows = (
            (
                await session.execute(
                    select(AuditEntry)
                    .where(col(AuditEntry.seq) >= expected_seq)
                    .order_by(col(AuditEntry.seq))
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for entry in rows:
            if entry.seq != expected_seq:
                return VerifyResult(False, checked, expected_seq, "entry missing")
            if entry.prev_hash != prev:
                return VerifyResult(False, checked, entry.seq, "link to previous entry broken")
            if entry_digest(entry_fields(entry), prev) != entry.hash:
                return VerifyResult(False, checked, entry.seq, "entry altered")
            prev = entry.hash
            last_seq = entry.seq
            expected_seq += 1
            checked += 1
    head = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1))
    ).scalar_one_or_none()
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return VerifyResult(False, checked, last_seq + 1, "entries missing at the end")
    return VerifyResult(True, checked)


async def search(
    session: AsyncSession,
    *,
    patient_id: int | None = None,
    user_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if patient_id is not None:
        query = query.where(col(AuditEntry.patient_id) == patient_id)
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
    actor: Any,
    patient_id: int | None = None,
    user_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[AuditEntry]:
    """The trail as an administrator reads it (page or API): only an administrator may,
    and the reading is itself an entry."""
    from telehealth.auth.models import Role
    from telehealth.auth.policy import ensure_role

    ensure_role(actor, Role.admin)
    entries = await search(session, patient_id=patient_id, user_id=user_id, start=start, end=end)
    record(session, Action.read, "audit_log", detail={"count": len(entries)})
    return entries


class _VisitLike(Protocol):
    id: int | None
    patient_id: int


def record_visit(
    session: AsyncSession,
    action: Action,
    visit: _VisitLike,
    detail: dict[str, Any] | None = None,
) -> None:
    """Queue an entry about a visit, under its patient."""
    record(session, action, "visit", visit.id, patient_id=visit.patient_id, detail=detail)
