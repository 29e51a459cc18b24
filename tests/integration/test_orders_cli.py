"""The console path to an order goes through the same in-person gate as the page and API."""

import asyncio
import os
import subprocess
import sys

import pytest

from tests.builders import Cast, alice_in_a_call_with_bob, login, make_visit


def order_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEHEALTH_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "telehealth", "order", "place", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def order_args(user: str, visit_id: int, medication: str) -> list[str]:
    return [
        "--as",
        user,
        "--visit",
        str(visit_id),
        "--medication",
        medication,
        "--dose",
        "0.5 mg",
        "--route",
        "oral",
        "--frequency",
        "twice daily",
        "--quantity",
        "20",
    ]


async def test_alprazolam_from_the_command_line_is_refused_and_sertraline_is_placed(
    client, cast: Cast, sessionmaker, clock, database_url
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    refused = await asyncio.to_thread(
        order_cli, database_url, *order_args("bob", visit_id, "alprazolam-tablet")
    )
    assert refused.returncode == 3, refused.stderr
    assert "in_person_required" in refused.stderr
    assert "Alprazolam" in refused.stderr
    assert "Schedule IV" in refused.stderr

    placed = await asyncio.to_thread(
        order_cli, database_url, *order_args("bob", visit_id, "sertraline-tablet")
    )
    assert placed.returncode == 0, placed.stderr
    assert "not controlled" in placed.stdout

    other = await asyncio.to_thread(
        order_cli, database_url, *order_args("charlie", visit_id, "sertraline-tablet")
    )
    assert other.returncode == 1
    assert "not_found" in other.stderr

    await login(client, cast.ada)
    entries = (await (await client.get(f"/api/audit?patient_id={cast.alice.id}")).json())["entries"]
    decisions = [e for e in entries if e["resource_type"] == "gate_decision"]
    assert {e["detail"]["decision"] for e in decisions} == {"allow", "deny"}
    assert all(e["source_address"] == "cli" and e["user_id"] == cast.bob.id for e in decisions)
    assert {e["role"] for e in decisions} == {"operator"}


def import_cli(
    database_url: str, user: str, csv_text: str, tmp_path
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "orders.csv"
    path.write_text(csv_text, encoding="utf-8")
    env = {**os.environ, "TELEHEALTH_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "telehealth", "order", "import", "--as", user, str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_an_import_puts_every_row_through_the_gate_and_keeps_the_good_rows(
    client, cast: Cast, sessionmaker, clock, database_url, tmp_path
):
    visit_id = await alice_in_a_call_with_bob(sessionmaker, cast, clock)
    csv_text = (
        "visit_id,medication_id,dose,route,frequency,quantity,refills,instructions\n"
        f"{visit_id},sertraline-tablet,50 mg,oral,daily,30,2,With breakfast\n"
        f"{visit_id},lisdexamfetamine-capsule,30 mg,oral,every morning,30,0,\n"
        f"{visit_id},no-such-drug,1 mg,oral,daily,30,0,\n"
        f"{visit_id},buspirone-tablet,10 mg,oral,twice daily,60,1,\n"
    )
    result = await asyncio.to_thread(import_cli, database_url, "bob", csv_text, tmp_path)

    assert result.returncode == 1, result.stderr  # one row was not a catalogue drug
    lines = result.stdout.splitlines()
    assert lines[0].startswith("line 2: Ordered Sertraline")
    assert lines[1].startswith("line 3: refused (in_person_required)")
    assert "Schedule II" in lines[1]
    assert lines[2].startswith("line 4: refused (")
    assert lines[3].startswith("line 5: Ordered Buspirone")
    assert lines[-1] == (
        "2 ordered, 1 refused by the in-person rule, 1 refused for other reasons (4 rows)."
    )

    # The good rows are on the patient's medication list; the refused ones are not.
    await login(client, cast.bob)
    visit = await (await client.get(f"/api/visits/{visit_id}/orders")).json()
    names = sorted(o["medication_id"] for o in visit["orders"])
    assert names == ["buspirone-tablet", "sertraline-tablet"]
    await login(client, cast.ada)
    entries = (await (await client.get(f"/api/audit?patient_id={cast.alice.id}")).json())["entries"]
    denied = [
        e
        for e in entries
        if e["resource_type"] == "gate_decision" and e["detail"]["decision"] == "deny"
    ]
    assert len(denied) == 1
    assert denied[0]["source_address"] == "cli"


async def test_an_import_with_a_wrong_header_changes_nothing_and_says_what_is_expected(
    cast: Cast, sessionmaker, clock, database_url, tmp_path
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="in_progress", location_state="NY"
    )
    csv_text = f"visit,drug,dose\n{visit_id},sertraline-tablet,50 mg\n"
    result = await asyncio.to_thread(import_cli, database_url, "bob", csv_text, tmp_path)

    assert result.returncode == 1
    assert "missing columns: visit_id, medication_id" in result.stderr
    assert "unknown columns: visit, drug" in result.stderr
    assert result.stdout == ""


async def test_an_import_where_the_gate_refuses_only_exits_with_the_gate_status(
    cast: Cast, sessionmaker, clock, database_url, tmp_path
):
    visit_id = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="in_progress", location_state="NY"
    )
    csv_text = (
        "visit_id,medication_id,dose,route,frequency,quantity\n"
        f"{visit_id},clonazepam-tablet,0.5 mg,oral,twice daily,60\n"
    )
    result = await asyncio.to_thread(import_cli, database_url, "bob", csv_text, tmp_path)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "Clonazepam" in result.stdout


@pytest.mark.both_databases
async def test_a_visit_id_no_row_can_have_is_refused_like_a_missing_visit(
    database_url, cast: Cast, tmp_path
):
    too_big = str(2**63)
    placed = await asyncio.to_thread(
        order_cli, database_url, *order_args("bob", 2**40, "sertraline-tablet")
    )
    assert placed.returncode == 1, placed.stderr
    assert "refused (not_found)" in placed.stderr
    csv_text = (
        "visit_id,medication_id,dose,route,frequency,quantity\n"
        f"{too_big},sertraline-tablet,1,oral,daily,1\n"
    )
    imported = await asyncio.to_thread(import_cli, database_url, "bob", csv_text, tmp_path)
    assert imported.returncode == 1
    assert "line 2: refused (not_found)" in imported.stdout
    assert "Traceback" not in imported.stderr
