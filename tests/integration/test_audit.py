"""The audit trail: what it records, that it is searchable, and that tampering shows."""

import asyncio
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from telehealth.audit import AuditEntry
from tests.builders import PASSWORD, Cast, login, run_cli

# On both databases: the audit chain: its rows, search queries, concurrent writers and verify.
pytestmark = pytest.mark.both_databases


async def entries(sessionmaker) -> list[AuditEntry]:
    async with sessionmaker() as session:
        return list(
            (await session.execute(select(AuditEntry).order_by(col(AuditEntry.seq))))
            .scalars()
            .all()
        )


def verify_cli(settings, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "audit", "verify", **env)


async def test_sign_in_out_failures_and_account_creation_are_each_recorded(
    client, cast: Cast, sessionmaker
):
    start = len(await entries(sessionmaker))
    await client.post("/api/session", json={"username": "ada", "password": "wrong one!"})
    await login(client, cast.ada)
    response = await client.post(
        "/api/users",
        json={
            "username": "newpatient",
            "role": "patient",
            "full_name": "Nina New",
            "date_of_birth": "1970-02-03",
            "state": "OH",
            "timezone": "America/New_York",
        },
    )
    assert response.status == 201
    new_id = (await response.json())["id"]
    await client.get("/api/audit")
    await client.delete("/api/session")
    rows = (await entries(sessionmaker))[start:]
    summary = [(r.action, r.outcome, r.user_id, r.resource_type, r.patient_id) for r in rows]
    assert summary == [
        ("login", "failure", cast.ada.id, "session", None),
        ("login", "success", cast.ada.id, "session", None),
        ("create", "success", cast.ada.id, "user", new_id),
        ("read", "success", cast.ada.id, "audit_log", None),
        ("logout", "success", cast.ada.id, "session", None),
    ]
    created = rows[2]
    assert created.detail == {"granted_role": "patient"}  # the privilege granted, no PHI
    assert created.role == "admin"
    assert created.source_address == "127.0.0.1"
    assert created.request_id and len(created.request_id) >= 8
    assert all(r.at.tzinfo is not None for r in rows)


async def test_audit_entries_never_hold_names_or_birth_dates(client, cast: Cast, sessionmaker):
    await login(client, cast.ada)
    await client.post(
        "/api/users",
        json={
            "username": "zed",
            "role": "patient",
            "full_name": "Zebulon Quixote",
            "date_of_birth": "1961-07-08",
            "state": "OH",
            "timezone": "America/New_York",
        },
    )
    dump = " ".join(str(e.model_dump()) for e in await entries(sessionmaker))
    assert "Zebulon" not in dump
    assert "1961-07-08" not in dump


async def test_the_admin_searches_the_trail_by_patient_user_and_time(client, cast: Cast, clock):
    await login(client, cast.ada)
    response = await client.get(f"/api/audit?user_id={cast.ada.id}")
    mine = (await response.json())["entries"]
    assert mine
    assert {e["user_id"] for e in mine} == {cast.ada.id}
    response = await client.get(f"/api/audit?patient_id={cast.alice.id}")
    about_alice = (await response.json())["entries"]
    assert about_alice
    assert {e["patient_id"] for e in about_alice} == {cast.alice.id}
    later = (clock.now.replace(year=clock.now.year + 1)).isoformat()
    response = await client.get("/api/audit", params={"start": later})
    assert (await response.json())["entries"] == []
    bad = await client.get("/api/audit?start=yesterday")
    assert bad.status == 422
    assert "ISO 8601" in (await bad.json())["error"]["message"]
    page = await client.get(f"/admin/audit?patient_id={cast.alice.id}")
    assert page.status == 200
    assert "Audit log" in await page.text()

    # The page's form takes plain days (UTC); "To" includes its day.
    today = datetime.now(UTC).date()
    one_day = await client.get(
        "/admin/audit", params={"start": today.isoformat(), "end": today.isoformat()}
    )
    assert "<caption>0 entries" not in await one_day.text()
    assert 'role="alert"' not in await one_day.text()
    tomorrow = (today + timedelta(days=1)).isoformat()
    after = await client.get("/admin/audit", params={"start": tomorrow})
    assert "<caption>0 entries, newest first" in await after.text()


async def test_audit_verify_passes_on_an_intact_trail(client, cast: Cast, settings):
    await login(client, cast.bob)
    result = await asyncio.to_thread(verify_cli, settings)
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


async def test_audit_verify_names_an_edited_entry(client, cast: Cast, settings, sessionmaker):
    await login(client, cast.bob)
    await login(client, cast.sam)
    rows = await entries(sessionmaker)
    target = rows[len(rows) // 2]
    async with sessionmaker() as session:
        await session.execute(
            text("UPDATE audit_entries SET user_id = 999 WHERE seq = :s"), {"s": target.seq}
        )
        await session.commit()
    result = await asyncio.to_thread(verify_cli, settings)
    assert result.returncode != 0
    assert f"entry {target.seq}" in result.stderr
    assert "altered" in result.stderr


async def test_audit_verify_names_a_deleted_entry(client, cast: Cast, settings, sessionmaker):
    await login(client, cast.bob)
    rows = await entries(sessionmaker)
    target = rows[3]
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": target.seq})
        await session.commit()
    result = await asyncio.to_thread(verify_cli, settings)
    assert result.returncode != 0
    assert f"entry {target.seq}" in result.stderr
    assert "missing" in result.stderr


async def test_audit_verify_notices_entries_cut_from_the_end(
    client, cast: Cast, settings, sessionmaker
):
    await login(client, cast.bob)
    last = (await entries(sessionmaker))[-1]
    async with sessionmaker() as session:
        await session.execute(text("DELETE FROM audit_entries WHERE seq = :s"), {"s": last.seq})
        await session.commit()
    result = await asyncio.to_thread(verify_cli, settings)
    assert result.returncode != 0
    assert f"entry {last.seq}" in result.stderr


async def test_concurrent_requests_keep_one_unbroken_chain(new_client, cast: Cast, settings):
    clients = [await new_client() for _ in range(8)]
    await asyncio.gather(
        *(c.post("/api/session", json={"username": "bob", "password": PASSWORD}) for c in clients)
    )
    await asyncio.gather(*(c.get("/api/me") for c in clients))
    result = await asyncio.to_thread(verify_cli, settings)
    assert result.returncode == 0, result.stderr


async def test_the_audit_log_names_people_finds_patients_gives_reasons_and_exports_csv(
    client, new_client, cast: Cast, sessionmaker, clock
):
    import csv
    import io
    from datetime import timedelta

    from tests.builders import book_telehealth

    start = (clock.now + timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
    booked = await book_telehealth(client, sessionmaker, cast, start)
    stranger = await new_client()
    await stranger.post("/api/join", json={"token": booked["token"], "date_of_birth": "1999-01-01"})
    await login(client, cast.ada)
    for search in ("alice able", "1990-05-17", "05/17/1990"):
        page = await client.get("/admin/audit", params={"patient": search})
        assert page.status == 200, search
        html = await page.text()
        assert "Alice Able" in html, search
        assert "wrong date of birth" in html, search
        assert "Sam" in html  # who booked, by name beside the id
    nobody = await (await client.get("/admin/audit", params={"patient": "nobody here"})).text()
    assert "0 entries" in nobody
    exported = await client.get("/admin/audit.csv", params={"patient": "alice"})
    assert exported.status == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(await exported.text())))
    assert rows and all(r["patient_name"] == "Alice Able" for r in rows)
    assert any(r["reason"] == "wrong date of birth" for r in rows)
    entries = (await (await client.get("/api/audit", params={"user_id": cast.ada.id})).json())[
        "entries"
    ]
    assert any(e["action"] == "export" and e["resource_type"] == "audit_log" for e in entries)
    charlie = await new_client()
    await login(charlie, cast.charlie)
    assert (await charlie.get("/admin/audit.csv")).status == 403


async def test_the_first_entries_of_an_empty_trail_written_at_once_all_land(sessionmaker):
    """The chain head is created by the first writer; others starting at the same moment
    wait for it instead of failing (a 500 on PostgreSQL before)."""
    import asyncio

    from sqlalchemy import func, select

    from telehealth import audit
    from telehealth.audit import Action, AuditEntry, AuditHead
    from telehealth.uow import unit_of_work

    async with sessionmaker() as session:
        assert await session.get(AuditHead, 1) is None  # an empty trail

    async def write(n: int) -> None:
        async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
            audit.record(session, Action.read, "probe", n)

    await asyncio.gather(*(write(n) for n in range(8)))
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(AuditEntry))).scalar() == 8
        head = await session.get(AuditHead, 1)
        assert head is not None and head.seq == 8
