"""`telehealth db backup` while visits are being booked, `db restore`, then `audit verify`
(issue 10, finding 11): nothing is lost with the machine, and the trail says honestly
that it was restored."""

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from telehealth.db import make_engine
from tests.builders import Cast, login, open_hours, run_cli

# On both databases: backup and restore differ per database (online backup API, pg_dump).
pytestmark = pytest.mark.both_databases

NEW_YORK = ZoneInfo("America/New_York")


async def visit_ids(url: str) -> set[int]:
    """Read with a new connection: the restore replaced the tables under the old ones."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return {row[0] for row in await conn.execute(text("SELECT id FROM visits"))}
    finally:
        await engine.dispose()


async def test_backup_while_booking_then_restore_keeps_the_data_and_verify_says_so(
    client, cast: Cast, settings, sessionmaker, clock, tmp_path
):
    await open_hours(sessionmaker, cast.bob)
    await login(client, cast.sam)
    today = clock.now.astimezone(NEW_YORK).date()
    starts = [
        datetime.combine(today + timedelta(days=day), time(10), NEW_YORK) for day in range(1, 19)
    ]

    async def book(start: datetime) -> int:
        response = await client.post(
            "/api/visits",
            json={
                "patient_id": cast.alice.id,
                "prescriber_id": cast.bob.id,
                "start": start.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert response.status == 201, await response.text()
        return int((await response.json())["id"])

    before = [await book(start) for start in starts[:4]]
    path = tmp_path / "clinic.backup"
    during, backed = await asyncio.gather(
        asyncio.gather(*(book(start) for start in starts[4:16])),
        asyncio.to_thread(run_cli, settings, "db", "backup", str(path)),
    )
    assert backed.returncode == 0, backed.stderr
    after = [await book(start) for start in starts[16:]]
    # The checkpoint now reaches past the backup: the restored trail will be behind it.
    assert (await asyncio.to_thread(run_cli, settings, "audit", "checkpoint")).returncode == 0

    restored = await asyncio.to_thread(
        run_cli, settings, "db", "restore", str(path), "--taken-at", "2026-12-01T09:00:00Z"
    )
    assert restored.returncode == 0, restored.stderr
    assert "Recorded in the audit trail" in restored.stdout

    ids = await visit_ids(settings.database_url)
    assert set(before) <= ids  # booked before the backup began
    assert not set(after) & ids  # booked after it: lost with the machine, as expected
    assert ids <= set(before) | set(during)

    verified = await asyncio.to_thread(run_cli, settings, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "restored from a backup taken at 2026-12-01T09:00:00Z" in verified.stdout


async def test_restore_refuses_what_is_not_a_backup(settings, tmp_path):
    junk = tmp_path / "junk.backup"
    junk.write_text("not a database")
    result = await asyncio.to_thread(run_cli, settings, "db", "restore", str(junk))
    assert result.returncode == 1
    assert "telehealth:" in result.stderr
    missing = await asyncio.to_thread(run_cli, settings, "db", "backup", "/nonexistent/x.db")
    assert missing.returncode == 1
    assert "is not a folder" in missing.stderr
