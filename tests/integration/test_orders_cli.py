"""The console path to an order goes through the same in-person gate as the page and API."""

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

from tests.builders import Cast, login, make_visit


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
    visit_id = await make_visit(
        sessionmaker,
        cast.alice,
        cast.bob,
        clock.now - timedelta(minutes=5),
        status="in_progress",
        location_state="NY",
    )
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
