"""Audit layer: verifying the chain, and the signed checkpoints of it kept outside the
database (docs/audit.md).

`verify` walks the chain link by link and compares what it saw with the checkpoints.

Each line of the checkpoint file is one JSON object: the chain's length (`seq`), its last
link (`head`), when it was read (`at`) and an HMAC of the three under the audit key. Lines
are appended with O_APPEND in one write each, so several server processes may share a file.
The operator ships the file to write-once storage; `telehealth audit verify` compares the
database with every line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from telehealth.audit import (
    CHAIN_RESOURCE,
    GENESIS,
    AuditEntry,
    AuditHead,
    chain_key,
    entry_digest,
    entry_fields,
    entry_mac,
)
from telehealth.db import utcnow

log = logging.getLogger(__name__)
VERSION = 1


class CheckpointError(Exception):
    """A checkpoint line is unreadable or not signed with this key."""


def _mac(key: bytes, seq: int, head: str, at: str) -> str:
    message = f"telehealth-audit-checkpoint:{VERSION}:{seq}:{head}:{at}"
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def signed_line(key: bytes, seq: int, head: str, at: datetime) -> str:
    stamp = at.isoformat()
    body = {"v": VERSION, "seq": seq, "head": head, "at": stamp, "mac": _mac(key, seq, head, stamp)}
    return json.dumps(body, separators=(",", ":")) + "\n"


def append(path: Path, line: str) -> None:
    """One write with O_APPEND: a whole line lands at the end even with other writers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read(path: Path, key: bytes) -> list[Checkpoint]:
    """Every checkpoint in the file, each checked for its signature; a missing file is none."""
    if not path.exists():
        return []
    found: list[Checkpoint] = []
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data: dict[str, Any] = json.loads(raw)
                seq, head, stamp, mac = data["seq"], data["head"], data["at"], data["mac"]
                at = datetime.fromisoformat(stamp)
                valid = (
                    isinstance(seq, int)
                    and isinstance(head, str)
                    and isinstance(mac, str)
                    and hmac.compare_digest(_mac(key, seq, head, stamp), mac)
                )
            except (ValueError, KeyError, TypeError):
                raise CheckpointError(f"{path} line {number} is not a checkpoint") from None
            if not valid:
                raise CheckpointError(
                    f"{path} line {number} is not signed with TELEHEALTH_AUDIT_KEY "
                    "(altered, or written with another key)"
                )
            found.append(Checkpoint(seq=seq, head=head, at=at, line=number))
    return found


def last_written(path: Path) -> tuple[int, str] | None:
    """The chain position in the file's last line (None if none): where to carry on from."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 4096))
            tail = handle.read().decode("utf-8", "replace").strip().splitlines()
        last = json.loads(tail[-1])
        return int(last["seq"]), str(last["head"])
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


async def write(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    last: tuple[int, str] | None = None,
) -> tuple[int, str] | None:
    """Append a checkpoint of the current head unless it is still `last` (or the chain is
    empty). Returns the head's position. A head that moved back (a restore) is written too."""
    async with sessionmaker() as session:
        head = (
            await session.execute(select(AuditHead).where(col(AuditHead.id) == 1))
        ).scalar_one_or_none()
        key = chain_key(session)
    if head is None or head.seq == 0:
        return last
    position = (head.seq, head.hash)
    if position == last:
        return last
    await asyncio.to_thread(append, path, signed_line(key, head.seq, head.hash, utcnow()))
    return position


class CheckpointWriter:
    """One task per server process: every `interval` seconds, a checkpoint if entries were
    written since the last one; a last one when the process stops."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], path: Path, interval: float
    ) -> None:
        self.sessionmaker = sessionmaker
        self.path = path
        self.interval = interval
        self._last: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._last = last_written(self.path)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._write_once()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._write_once()

    async def _write_once(self) -> None:
        try:
            self._last = await write(self.sessionmaker, self.path, self._last)
        except Exception:
            # The next tick tries again; verify reports how far the checkpoints reach.
            log.exception("audit checkpoint not written", extra={"path": str(self.path)})


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement, kept outside the database, that the chain had `seq` entries
    ending in `head` at time `at`."""

    seq: int
    head: str
    at: datetime
    line: int = 0


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None
    notes: tuple[str, ...] = ()


@dataclass
class _Restore:
    seq: int
    at: datetime
    restored_seq: int
    taken_at: str


async def verify(
    session: AsyncSession,
    key: bytes,
    checkpoints: Sequence[Checkpoint] = (),
    batch: int = 5000,
) -> VerifyResult:
    """Walk the chain; report the first altered, missing or reordered entry, then compare
    the checkpoints (already checked for their signature) with what the walk saw."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    keyed_from: int | None = None
    wanted = {cp.seq for cp in checkpoints}
    seen: dict[int, str] = {}
    restores: list[_Restore] = []
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
            fields = entry_fields(entry)
            if hmac.compare_digest(entry_mac(key, fields, prev), entry.hash):
                if keyed_from is None:
                    keyed_from = entry.seq
                if entry.resource_type == CHAIN_RESOURCE and entry.detail.get("event") == (
                    "restored"
                ):
                    restores.append(
                        _Restore(
                            entry.seq,
                            entry.at,
                            int(entry.detail.get("restored_seq", entry.seq - 1)),
                            str(entry.detail.get("backup_taken_at", "unknown")),
                        )
                    )
            elif keyed_from is None and entry_digest(fields, prev) == entry.hash:
                pass  # written before the chain was keyed
            else:
                problem = "entry altered, or signed with another key than TELEHEALTH_AUDIT_KEY"
                return VerifyResult(False, checked, entry.seq, problem)
            if entry.seq in wanted:
                seen[entry.seq] = entry.hash
            prev = entry.hash
            last_seq = entry.seq
            expected_seq += 1
            checked += 1
    head = (
        await session.execute(select(AuditHead).where(col(AuditHead.id) == 1))
    ).scalar_one_or_none()
    if head is not None and (head.seq != last_seq or head.hash != prev):
        return VerifyResult(False, checked, last_seq + 1, "entries missing at the end")

    if checked and keyed_from is None:
        # Every writer signs a switch-over entry first, so only a trail no server of this
        # version has written to yet (or one rewritten without the key) looks like this.
        return VerifyResult(
            False,
            checked,
            1,
            "no entry is signed with TELEHEALTH_AUDIT_KEY. A trail from before the key is "
            "signed by starting the server or `telehealth audit checkpoint` once; a trail "
            "that was signed before has been rewritten",
        )
    notes: list[str] = []
    if keyed_from is not None and keyed_from > 1:
        notes.append(
            f"entries 1-{keyed_from - 1} were written before the chain was keyed; they are "
            f"protected from entry {keyed_from} on, which is signed and links to them"
        )
    for restore in restores:
        notes.append(
            f"entry {restore.seq}: restored from a backup taken at {restore.taken_at} "
            f"(entries after {restore.restored_seq} written before the restore were lost)"
        )
    for cp in checkpoints:
        lost = [r for r in restores if cp.at <= r.at and cp.seq > r.restored_seq]
        if lost:
            continue  # the restore entry says so, signed
        if cp.seq > last_seq:
            return VerifyResult(
                False,
                checked,
                last_seq + 1,
                f"behind checkpoint {cp.seq} (written {cp.at.isoformat()}): entries "
                f"{last_seq + 1}-{cp.seq} are gone. If the database was restored from a "
                "backup, record it with `telehealth audit restored`",
            )
        if seen.get(cp.seq) != cp.head:
            return VerifyResult(
                False,
                checked,
                cp.seq,
                f"entry differs from checkpoint {cp.seq} (written {cp.at.isoformat()})",
            )
    if checkpoints:
        newest = max(cp.seq for cp in checkpoints)
        notes.append(f"{len(checkpoints)} checkpoints match (newest: entry {newest})")
    return VerifyResult(True, checked, notes=tuple(notes))
