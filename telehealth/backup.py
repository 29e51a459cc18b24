"""Backups while serving: SQLite's online backup API, or pg_dump/pg_restore for PostgreSQL.

Blocking functions (file copies, subprocesses); the command line calls them directly.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from telehealth.config import sqlite_path


class BackupError(Exception):
    """The backup or restore did not happen; the message says why and what to do."""


def backup(database_url: str, dest: Path) -> None:
    """Write a consistent copy of the database to `dest` while the server keeps serving."""
    dest = dest.resolve()
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent} is not a folder")
    partial = dest.with_name(dest.name + ".partial")
    source = sqlite_path(database_url)
    if source is not None:
        if not source.exists():
            raise BackupError(f"there is no database at {source}")
        _sqlite_copy(source, partial)
    else:
        _pg(["pg_dump", "--format=custom", "--no-owner", "--file", str(partial)], database_url)
    os.replace(partial, dest)


def restore(database_url: str, src: Path) -> None:
    """Replace the database's contents with the backup at `src` (stop the server first)."""
    if not src.is_file():
        raise BackupError(f"there is no backup at {src}")
    target = sqlite_path(database_url)
    if target is not None:
        _check_sqlite_backup(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(src, target)
    else:
        _pg(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--single-transaction",
                "--exit-on-error",
                str(src),
            ],
            database_url,
        )


def _sqlite_copy(source: Path, dest: Path) -> None:
    """SQLite's online backup: one step, so a copy is one consistent snapshot even while
    other connections write (WAL: they are not blocked)."""
    src = sqlite3.connect(source)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from None
    finally:
        dst.close()
        src.close()


def _check_sqlite_backup(src: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        raise BackupError(f"{src} is not a SQLite database") from None
    if "audit_entries" not in tables or "alembic_version" not in tables:
        raise BackupError(f"{src} is not a telehealth database backup")


def _pg(command: list[str], database_url: str) -> None:
    """Run pg_dump or pg_restore against the database. The password goes in the
    environment (not on the command line, where other users could read it)."""
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} was not found: install postgresql-client")
    url = make_url(database_url)
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    libpq = url.set(drivername="postgresql", password=None, query={})
    target = libpq.render_as_string(hide_password=False)
    result = subprocess.run(  # noqa: S603 - fixed program, arguments from our settings
        [*command, "--dbname", target],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=6 * 3600,
    )
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        hint = ""
        if any("version mismatch" in line for line in detail):
            hint = " (install the postgresql-client of the server's major version)"
        raise BackupError(f"{command[0]} failed{hint}: " + " | ".join(detail[-3:]))
