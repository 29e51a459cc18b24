"""Persistence plumbing: engine, sessions, column types, naming convention. No web imports."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeGuard

from sqlalchemy import JSON, Column, DateTime, MetaData, event
from sqlalchemy import Enum as SAEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

# Integer primary keys are 32-bit on PostgreSQL: no row can have an id outside this range, so
# a larger or non-positive id is answered like a missing record without a query.
MAX_ROW_ID = 2**31 - 1


def is_row_id(value: object) -> TypeGuard[int]:
    """Whether ``value`` can be a row's id: a whole number (not a bool) from 1 to MAX_ROW_ID."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON


def enum_column(
    enum_cls: type[StrEnum], *, default: StrEnum | None = None, index: bool = False
) -> Column[Any]:
    """A StrEnum stored as its value in a VARCHAR (no native enum types to migrate)."""
    length = max(len(m.value) for m in enum_cls)
    return Column(
        SAEnum(
            enum_cls,
            native_enum=False,
            create_constraint=False,
            length=max(length, 4),
            values_callable=lambda e: [m.value for m in e],
        ),
        nullable=False,
        default=default,
        index=index,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create the engine. SQLite gets WAL, foreign keys and writer serialisation.

    Bound parameters are kept out of error messages: they hold note text and names, and a
    logged traceback must carry no PHI.
    """
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        _configure_sqlite(engine)
        return engine
    # Enough kept-open connections for a busy process: connections beyond pool_size are
    # opened and closed per use, and opening one costs a PostgreSQL backend fork.
    kwargs.setdefault("pool_size", 20)
    kwargs.setdefault("max_overflow", 10)
    # No ping before each checkout (a round trip on every request: a third of a session
    # lookup's CPU here, docs/performance.md). A connection found dead fails its request and
    # SQLAlchemy then discards every pooled connection; recycling bounds their age.
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(url, **kwargs)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of pysqlite's implicit one.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # The busy timeout first, so every later statement waits for a lock instead of
        # failing; and WAL is set only when the file is not in WAL already: asking to set it
        # needs a lock and can answer "database is locked" without waiting, which a new
        # connection opened while another request writes met under load.
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode")
        mode = cur.fetchone()
        if not mode or str(mode[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every request writes at least an audit entry; taking the write lock up front
        # avoids SQLITE_BUSY upgrades mid-transaction and keeps the audit chain linear.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


AUDIT_KEY = "audit_key"
AUDIT_STATE = "audit_state"


def make_sessionmaker(engine: AsyncEngine, *, audit_key: str) -> async_sessionmaker[AsyncSession]:
    """Sessions that carry the audit chain's key (never stored in the database) and one
    state shared by this sessionmaker's sessions (whether the chain's key was checked)."""
    if not audit_key:
        raise ValueError("an audit key is required to write the audit trail")
    info: dict[str, Any] = {AUDIT_KEY: audit_key.encode(), AUDIT_STATE: {}}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)
