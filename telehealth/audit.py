"""Domain: the append-only, hash-chained audit trail (HIPAA 45 CFR 164.312(b)).

Services call `record()`; entries are buffered on the session and written by `flush()`
just before commit, so the chain head is locked only for the instant of the commit.
Entries marked `durable` (refusals, failed logins) are written even when the transaction
that produced them rolls back.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Column, String, Text, bindparam, cast, column, event, insert, update, values
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col, select

from telehealth.db import AUDIT_KEY, AUDIT_STATE, JSONType, UTCDateTime, utcnow

GENESIS = "0" * 64
_PENDING = "audit_pending"
_CONTEXT = "audit_context"
_LOCKED_AT = "audit_locked_at"
# Entries the chain writes about itself: switched to a key, restored from a backup.
CHAIN_RESOURCE = "audit_chain"


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
    """The plain SHA-256 link written before the chain was keyed (kept to verify old rows)."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode()).hexdigest()


def entry_mac(key: bytes, fields: dict[str, Any], prev_hash: str) -> str:
    """The keyed link: HMAC-SHA256 over the previous link and the entry's fields."""
    return hmac.new(key, (prev_hash + _canonical(fields)).encode(), hashlib.sha256).hexdigest()


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)


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


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    """entry_fields() of a row about to be inserted (no model object: this runs while the
    chain head is locked). Every verify in the tests checks the two agree."""
    fields = {name: row[name] for name in _FIELD_NAMES}
    fields["at"] = row["at"].isoformat()
    return fields


_FIELD_NAMES = (
    "seq",
    "at",
    "user_id",
    "role",
    "action",
    "patient_id",
    "resource_type",
    "resource_id",
    "outcome",
    "source_address",
    "request_id",
    "detail",
)


class AuditKeyMismatch(Exception):
    """The newest entry is signed with neither this key nor the old plain hash."""


def chain_key(session: AsyncSession) -> bytes:
    key = session.info.get(AUDIT_KEY)
    if not isinstance(key, bytes) or not key:
        raise RuntimeError("this session was not made by make_sessionmaker(audit_key=...)")
    return key


def _system_entry(detail: dict[str, Any]) -> _Pending:
    return _Pending(
        action=Action.update,
        resource_type=CHAIN_RESOURCE,
        resource_id=None,
        patient_id=None,
        outcome=Outcome.success,
        detail=detail,
        durable=False,
        at=utcnow(),
        context=AuditContext(role="system"),
    )


async def _check_key(session: AsyncSession, key: bytes) -> _Pending | None:
    """Once per process (per sessionmaker): is the newest entry signed with this key?

    A chain written before the key existed gets one switch-over entry, signed, whose link
    covers the old head: from then on nobody without the key can rewrite what came before
    it either. Returns that entry when it is needed (the caller appends it first).
    """
    state: dict[str, Any] = session.info.get(AUDIT_STATE, {})
    if state.get("checked"):
        return None
    head = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1).with_for_update())
    ).scalar_one_or_none()
    newest = None
    if head is not None and head.seq > 0:
        newest = (
            await session.execute(select(AuditEntry).where(col(AuditEntry.seq) == head.seq))
        ).scalar_one_or_none()
    if newest is None:
        state["checked"] = True  # an empty chain is keyed from its first entry
        return None
    fields = entry_fields(newest)
    if hmac.compare_digest(entry_mac(key, fields, newest.prev_hash), newest.hash):
        state["checked"] = True
        return None
    if entry_digest(fields, newest.prev_hash) == newest.hash:
        # Not marked checked: if this transaction rolls back, the next one tries again.
        return _system_entry({"event": "keyed", "scheme": "hmac-sha256", "unkeyed": newest.seq})
    raise AuditKeyMismatch(
        f"TELEHEALTH_AUDIT_KEY does not match the audit trail: its newest entry ({newest.seq}) "
        "is not signed with this key. Use the key this trail was written with "
        "(or run `telehealth audit verify` to see whether the trail was altered)."
    )


async def check_key(sessionmaker: Any) -> None:
    """Start-up check: raise AuditKeyMismatch rather than append to a chain nobody could
    verify afterwards; a chain from before the key gets its switch-over entry now."""
    async with sessionmaker() as session:
        marker = await _check_key(session, chain_key(session))
        if marker is not None:
            requeue(session, [marker])
            await flush(session)
            await session.commit()
            session.info[AUDIT_STATE]["checked"] = True


async def flush(session: AsyncSession) -> None:
    """Append the queued entries to the chain. Call right before commit.

    The entries are prepared before the chain head is touched. Then one UPDATE ...
    RETURNING locks the head, moves its count on and returns its link; the entries are
    signed in memory; one statement inserts them all and writes the new head link (on
    SQLite, which has no INSERT with a data-modifying WITH, two; its IMMEDIATE transactions
    hold the database's write lock throughout anyway). The head stays locked from the
    UPDATE to the commit: docs/performance.md measures for how long.
    """
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return
    key = chain_key(session)
    marker = await _check_key(session, key)
    if marker is not None:
        pending.insert(0, marker)
    rows: list[dict[str, Any]] = [
        {
            "at": p.at,
            "user_id": p.context.user_id,
            "role": p.context.role,
            "action": p.action.value,
            "patient_id": p.patient_id,
            "resource_type": p.resource_type,
            "resource_id": p.resource_id,
            "outcome": p.outcome.value,
            "source_address": p.context.source_address,
            "request_id": p.context.request_id,
            "detail": p.detail,
        }
        for p in pending
    ]
    asked = time.perf_counter()
    bump = (
        update(AuditHead)
        .where(col(AuditHead.id) == 1)
        .values(seq=col(AuditHead.seq) + len(rows))
        .returning(col(AuditHead.seq), col(AuditHead.hash))
    )
    bumped = (await session.execute(bump)).one_or_none()
    if bumped is None:  # the very first entry of a database: create the head, then bump it
        # Two first writers at once must not both insert it (a 500 for one of them, seen on
        # PostgreSQL): the second waits for the first's row, then only bumps it.
        await session.execute(_create_head(session.get_bind().dialect.name))
        bumped = (await session.execute(bump)).one()
    # Held from here (the UPDATE has the row lock once it returns) until COMMIT returns.
    session.info[_LOCKED_AT] = locked = time.perf_counter()
    LOCK_TIMES.waits.append(locked - asked)
    seq, prev = bumped[0] - len(rows), bumped[1]
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        row["hash"] = prev = entry_mac(key, _row_fields(row), prev)
    if session.get_bind().dialect.name == "postgresql":
        await _write_at_once(session, rows, prev)
    else:
        await _write_separately(session, rows, prev)


def _create_head(dialect: str) -> Any:
    table = AuditHead.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    make = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return (
        make(table).values(id=1, seq=0, hash=GENESIS).on_conflict_do_nothing(index_elements=["id"])
    )


async def _write_separately(session: AsyncSession, rows: list[dict[str, Any]], head: str) -> None:
    await session.execute(insert(AuditEntry), rows)
    await session.execute(
        update(AuditHead).where(col(AuditHead.id) == 1).values(hash=head),
        execution_options={"synchronize_session": False},
    )


async def _write_at_once(session: AsyncSession, rows: list[dict[str, Any]], head: str) -> None:
    """INSERT every entry and write the head's new link in one statement (one round trip
    less while the head is locked)."""
    if len(rows) == 1:
        # The usual case, as a statement SQLAlchemy compiles once: one carrying VALUES data
        # (below) has no cache key and was compiled afresh on every append, about a fifth
        # of an audited read's CPU (docs/performance.md).
        params = {f"entry_{name}": value for name, value in rows[0].items()}
        params["new_head_hash"] = head
        await session.execute(_one_entry_at_once(tuple(rows[0])), params)
        return
    moved = (
        update(AuditHead)
        .where(col(AuditHead.id) == 1)
        .values(hash=head)
        .returning(col(AuditHead.id))
        .cte("moved_head")
    )
    table = AuditEntry.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    names = list(rows[0])
    given = values(*(column(name, table.c[name].type) for name in names), name="given").data(
        [tuple(row[name] for name in names) for row in rows]
    )
    # PostgreSQL runs a data-modifying WITH exactly once even though nothing reads it; the
    # casts keep a column that is NULL in every row from being typed as text.
    statement = (
        insert(table)
        .from_select(names, select(*(cast(given.c[name], table.c[name].type) for name in names)))
        .add_cte(moved)
    )
    await session.execute(statement)


@functools.cache
def _one_entry_at_once(names: tuple[str, ...]) -> Any:
    table = AuditEntry.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    moved = (
        update(AuditHead)
        .where(col(AuditHead.id) == 1)
        .values(hash=bindparam("new_head_hash"))
        .returning(col(AuditHead.id))
        .cte("moved_head")
    )
    # Parameter names that are no column's: an UPDATE also takes a parameter named like
    # one of its table's columns as a value to SET.
    given = {name: bindparam(f"entry_{name}", type_=table.c[name].type) for name in names}
    return insert(table).values(given).add_cte(moved)


@dataclass
class LockTimes:
    """How long transactions held the chain head locked (from the locking UPDATE's return
    to COMMIT's), and how long they waited for it (the UPDATE itself)."""

    count: int = 0
    longest: float = 0.0
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    waits: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def add(self, seconds: float) -> None:
        self.count += 1
        self.longest = max(self.longest, seconds)
        self.recent.append(seconds)


LOCK_TIMES = LockTimes()


@event.listens_for(Session, "after_commit")
def _released_on_commit(session: Session) -> None:
    started = session.info.pop(_LOCKED_AT, None)
    if started is not None:
        LOCK_TIMES.add(time.perf_counter() - started)


@event.listens_for(Session, "after_soft_rollback")
def _released_on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(_LOCKED_AT, None)


async def record_restore(session: AsyncSession, *, backup_taken_at: str) -> int:
    """Write, signed into the chain, that this database was restored from a backup: the
    checkpoints written before now that are ahead of it are then expected (not an attack).
    Returns the sequence number the restored trail ended at."""
    head = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1))
    ).scalar_one_or_none()
    restored_seq = head.seq if head is not None else 0
    requeue(
        session,
        [
            _system_entry(
                {
                    "event": "restored",
                    "restored_seq": restored_seq,
                    "backup_taken_at": backup_taken_at,
                }
            )
        ],
    )
    return restored_seq


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
