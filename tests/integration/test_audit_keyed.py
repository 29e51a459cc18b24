"""A database writer without the audit key cannot rewrite or cut the trail unnoticed:
the attacks of issue 10 (finding 2), each through the real `telehealth` command line."""

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from telehealth import checkpoints
from telehealth.app import create_app
from telehealth.audit import GENESIS, entry_digest, entry_fields
from telehealth.db import utcnow
from tests.builders import Cast, login, run_cli
from tests.integration.test_audit import entries
from tests.waiting import eventually

# On both databases: the audit chain's keys and checkpoints, through the command line.
pytestmark = pytest.mark.both_databases


async def rewrite_from(sessionmaker, seq: int, change: dict, digest=entry_digest) -> None:
    """What someone with write access to the database (and no key) can do: change an
    entry, recompute every later link with the published algorithm, and move the head."""
    rows = await entries(sessionmaker)
    async with sessionmaker() as session:
        prev = next((r.hash for r in rows if r.seq == seq - 1), GENESIS)
        for row in rows:
            if row.seq < seq:
                continue
            if row.seq == seq:
                for name, value in change.items():
                    setattr(row, name, value)
            new_hash = digest(entry_fields(row), prev)
            await session.execute(
                text(
                    "UPDATE audit_entries SET user_id = :u, prev_hash = :p, hash = :h "
                    "WHERE seq = :s"
                ),
                {"u": row.user_id, "p": prev, "h": new_hash, "s": row.seq},
            )
            prev = new_hash
        await session.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
        await session.commit()


async def test_an_edited_entry_with_every_later_link_recomputed_fails_verify(
    client, cast: Cast, settings, sessionmaker
):
    await login(client, cast.bob)
    await login(client, cast.sam)
    target = (await entries(sessionmaker))[2]
    await rewrite_from(sessionmaker, target.seq, {"user_id": cast.ada.id})

    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 1
    assert f"BROKEN at entry {target.seq}" in result.stderr


async def test_newest_entries_cut_and_the_head_moved_back_fail_verify_given_a_checkpoint(
    client, cast: Cast, settings, sessionmaker
):
    await login(client, cast.bob)
    checkpoint = await asyncio.to_thread(run_cli, settings, "audit", "checkpoint")
    assert checkpoint.returncode == 0, checkpoint.stderr
    rows = await entries(sessionmaker)
    keep = rows[:-2]
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM audit_entries WHERE seq > :s"), {"s": keep[-1].seq})
        await session.execute(
            text("UPDATE audit_head SET seq = :s, hash = :h"),
            {"s": keep[-1].seq, "h": keep[-1].hash},
        )
        await session.commit()

    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 1
    assert f"behind checkpoint {rows[-1].seq}" in result.stderr
    assert "telehealth audit restored" in result.stderr  # how to record a real restore

    # An operator who restored a backup says so, and that statement is itself signed.
    recorded = await asyncio.to_thread(
        run_cli, settings, "audit", "restored", "--taken-at", "2026-01-02T03:04:05Z"
    )
    assert recorded.returncode == 0, recorded.stderr
    after = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert after.returncode == 0, after.stderr
    assert "restored from a backup taken at 2026-01-02T03:04:05Z" in after.stdout


async def test_a_forged_checkpoint_line_fails_verify(client, cast: Cast, settings):
    await login(client, cast.bob)
    assert (await asyncio.to_thread(run_cli, settings, "audit", "checkpoint")).returncode == 0
    path = settings.checkpoint_path
    line = json.loads(path.read_text().splitlines()[-1])
    line["seq"] -= 1  # claim the trail was shorter, to hide what came after
    path.write_text(path.read_text() + json.dumps(line) + "\n")
    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 1
    assert "line 2 is not signed with TELEHEALTH_AUDIT_KEY" in result.stderr


async def test_verify_with_a_wrong_key_fails_and_the_server_refuses_to_start_with_it(
    client, cast: Cast, settings
):
    await login(client, cast.bob)
    wrong = {"TELEHEALTH_AUDIT_KEY": "another-key-" + "w" * 32}
    result = await asyncio.to_thread(run_cli, settings, "audit", "verify", **wrong)
    assert result.returncode == 1
    assert "BROKEN at entry 1" in result.stderr
    assert "another key" in result.stderr

    serve = await asyncio.to_thread(
        run_cli, settings, "serve", "--port", "1", **wrong, TELEHEALTH_HOST="127.0.0.1"
    )
    assert serve.returncode == 2
    assert "TELEHEALTH_AUDIT_KEY does not match the audit trail" in serve.stderr


def test_production_without_an_audit_key_refuses_to_start(tmp_path):
    env = {
        **os.environ,
        "TELEHEALTH_ENV": "production",
        "TELEHEALTH_SECRET_KEY": "s" * 40,
        "TELEHEALTH_AUDIT_KEY": "",
        "TELEHEALTH_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "telehealth", "serve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TELEHEALTH_AUDIT_KEY" in result.stderr
    assert not (tmp_path / "audit_key").exists()  # no key made up behind the operator's back


async def test_each_server_process_writes_signed_checkpoints_while_entries_are_written(
    settings, cast: Cast, clock, sessionmaker, port, monkeypatch
):
    ticks = 0
    write = checkpoints.write

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal ticks
        ticks += 1
        return await write(*args, **kwargs)

    monkeypatch.setattr(checkpoints, "write", counted)
    fast = settings.model_copy(update={"audit_checkpoint_seconds": 0.1})
    server = TestServer(create_app(fast, clock=clock), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        await login(client, cast.bob)
        head = (await entries(sessionmaker))[-1]
        path = settings.checkpoint_path

        def checkpoint_lines() -> list[str]:
            lines = path.read_text().splitlines() if path.exists() else []
            return lines if lines and json.loads(lines[-1])["seq"] == head.seq else []

        lines = await eventually(checkpoint_lines, what="a checkpoint of the head")
        assert json.loads(lines[-1])["head"] == head.hash
        # Two more ticks with nothing new written: no new line.
        seen = ticks
        await eventually(lambda: ticks >= seen + 2, what="two more checkpoint ticks")
        assert len(path.read_text().splitlines()) == len(lines)
    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "checkpoints match" in result.stdout


async def test_a_trail_from_before_the_key_is_carried_over_and_then_protected(
    settings, cast: Cast, clock, sessionmaker, port
):
    """Databases written before this change hold plain-hash entries: the first server start
    signs a switch-over entry that links to them, so verify passes and, from then on,
    rewriting the old entries is caught too."""
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM audit_entries"))
        await session.execute(text("DELETE FROM audit_head"))
        prev = GENESIS
        at = (utcnow() - timedelta(days=1)).replace(microsecond=0)
        for seq in (1, 2, 3):
            fields = {
                "seq": seq,
                "at": at.isoformat(),
                "user_id": cast.bob.id,
                "role": "prescriber",
                "action": "login",
                "patient_id": None,
                "resource_type": "session",
                "resource_id": None,
                "outcome": "success",
                "source_address": "127.0.0.1",
                "request_id": None,
                "detail": {},
            }
            digest = entry_digest(fields, prev)
            await session.execute(
                text(
                    "INSERT INTO audit_entries (seq, at, user_id, role, action, resource_type, "
                    "outcome, source_address, detail, prev_hash, hash) VALUES (:seq, :at, :u, "
                    "'prescriber', 'login', 'session', 'success', '127.0.0.1', '{}', :p, :h)"
                ),
                {
                    "seq": seq,
                    "at": at.replace(tzinfo=None)
                    if settings.database_url.startswith("sqlite")
                    else at,
                    "u": cast.bob.id,
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
        await session.execute(
            text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 3, :h)"), {"h": prev}
        )
        await session.commit()
    old = await entries(sessionmaker)
    assert [r.seq for r in old] == [1, 2, 3]
    assert all(r.hash == entry_digest(entry_fields(r), r.prev_hash) for r in old)

    server = TestServer(create_app(settings, clock=clock), host="127.0.0.1", port=port)
    async with TestClient(server) as client:
        await login(client, cast.bob)
    rows = await entries(sessionmaker)
    assert rows[3].resource_type == "audit_chain"
    assert rows[3].detail == {"event": "keyed", "scheme": "hmac-sha256", "unkeyed": 3}
    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 0, result.stderr
    assert "entries 1-3 were written before the chain was keyed" in result.stdout

    # Rewriting an old entry (and, for want of the key, every later one as plain hashes)
    # is caught without any checkpoint: the trail was signed, and no longer is.
    settings.checkpoint_path.unlink()
    await rewrite_from(sessionmaker, 2, {"user_id": cast.ada.id})
    result = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert result.returncode == 1
    assert "no entry is signed with TELEHEALTH_AUDIT_KEY" in result.stderr
