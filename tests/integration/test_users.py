"""Accounts: who can create them, and the checks on what they carry."""

import asyncio
import os
import subprocess
import sys

import pytest

from telehealth.auth.npi import npi_with_check_digit
from tests.builders import Cast, login

PRESCRIBER = {
    "username": "dr.new",
    "role": "prescriber",
    "full_name": "Dr New",
    "password": "a-long-password",
    "credential": "MD",
    "licensed_states": ["ny", "FL"],
    "timezone": "America/New_York",
}


async def test_an_admin_creates_a_psychiatrist_and_a_supervised_pa(client, cast: Cast):
    await login(client, cast.ada)
    response = await client.post(
        "/api/users", json={**PRESCRIBER, "npi": npi_with_check_digit("111222333")}
    )
    assert response.status == 201
    md_id = (await response.json())["id"]
    response = await client.post(
        "/api/users",
        json={
            **PRESCRIBER,
            "username": "pa.new",
            "credential": "PA",
            "npi": npi_with_check_digit("111222334"),
            "supervising_prescriber_id": md_id,
        },
    )
    assert response.status == 201
    pa = await client.post(
        "/api/session", json={"username": "pa.new", "password": "a-long-password"}
    )
    assert (await pa.json())["user"]["role"] == "prescriber"


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"npi": "1234567890"}, "npi", "check digit"),
        ({"npi": "12345"}, "npi", "10-digit"),
        ({"credential": "RN"}, "credential", "MD, DO, NP, PA"),
        ({"licensed_states": ["ZZ"]}, "licensed_states", "two-letter"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"credential": "PA"}, "supervising_prescriber_id", "supervising"),
        ({"password": "short"}, "password", "at least 10"),
        ({"username": "Has Spaces"}, "username", "letters, digits"),
        ({"role": "superuser"}, "role", "patient, prescriber"),
    ],
)
async def test_a_bad_account_is_refused_with_a_message_naming_the_field(
    client, cast: Cast, change, field, words
):
    await login(client, cast.ada)
    body = {**PRESCRIBER, "npi": npi_with_check_digit("555666777"), **change}
    response = await client.post("/api/users", json=body)
    assert response.status == 422
    error = (await response.json())["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == field
    assert words in error["message"]


@pytest.mark.parametrize("supervisor", ["nurse_practitioner", "patient"])
async def test_a_pa_must_be_supervised_by_a_physician(client, cast: Cast, supervisor):
    await login(client, cast.ada)
    created = await client.post(
        "/api/users",
        json={
            **PRESCRIBER,
            "username": "np.one",
            "credential": "NP",
            "npi": npi_with_check_digit("222333444"),
        },
    )
    supervisor_id = (await created.json())["id"] if supervisor != "patient" else cast.alice.id
    response = await client.post(
        "/api/users",
        json={
            **PRESCRIBER,
            "username": "pa.two",
            "credential": "PA",
            "npi": npi_with_check_digit("222333445"),
            "supervising_prescriber_id": supervisor_id,
        },
    )
    assert response.status == 422
    assert "physician (MD or DO)" in (await response.json())["error"]["message"]


@pytest.mark.both_databases
async def test_a_taken_username_is_a_conflict_and_nothing_is_half_made(client, cast: Cast):
    await login(client, cast.ada)
    response = await client.post(
        "/api/users",
        json={
            "username": "BOB",
            "role": "scheduler",
            "full_name": "Another Bob",
            "password": "a-long-password",
        },
    )
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "username_taken"


async def test_a_patient_account_needs_no_password_but_cannot_sign_in_with_one(client, cast):
    await login(client, cast.ada)
    response = await client.post(
        "/api/users",
        json={
            "username": "nopass",
            "role": "patient",
            "full_name": "No Pass",
            "date_of_birth": "1980-01-01",
            "state": "TX",
            "timezone": "America/Chicago",
            "allergies": ["latex"],
            "current_medications": ["lithium 300 mg"],
            "phone": "555-0100",
        },
    )
    assert response.status == 201
    refused = await client.post("/api/session", json={"username": "nopass", "password": ""})
    assert refused.status == 401


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELEHEALTH_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "telehealth", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


async def test_the_operator_creates_an_admin_from_the_command_line(client, database_url):
    result = await asyncio.to_thread(
        run_cli,
        database_url,
        "user",
        "create",
        "--username",
        "root.admin",
        "--role",
        "admin",
        "--password",
        "a-long-password",
        "--full-name",
        "Root Admin",
    )
    assert result.returncode == 0, result.stderr
    assert "Created admin root.admin" in result.stdout
    response = await client.post(
        "/api/session", json={"username": "root.admin", "password": "a-long-password"}
    )
    assert response.status == 200
    again = await asyncio.to_thread(
        run_cli,
        database_url,
        "user",
        "create",
        "--username",
        "root.admin",
        "--role",
        "admin",
        "--password",
        "a-long-password",
    )
    assert again.returncode == 1
    assert "taken" in again.stderr


@pytest.mark.both_databases
async def test_the_demo_seeds_once_and_is_safe_to_run_again(client, database_url):
    first = await asyncio.to_thread(run_cli, database_url, "demo")
    assert first.returncode == 0, first.stderr
    assert "dr.rivera" in first.stdout
    second = await asyncio.to_thread(run_cli, database_url, "demo")
    assert second.returncode == 0, second.stderr
    assert "0 accounts created" in second.stdout
    for username in ("admin", "scheduler", "dr.rivera", "pa.chen", "alice"):
        response = await client.post(
            "/api/session", json={"username": username, "password": "demo-password-1"}
        )
        assert response.status == 200, username


async def test_an_admin_unlocks_a_locked_account_and_deactivates_another(
    client, new_client, cast: Cast
):
    for _ in range(5):
        await client.post("/api/session", json={"username": "bob", "password": "wrong guess"})
    sam = await new_client()
    await login(sam, cast.sam)
    await login(client, cast.ada)
    users = {u["username"]: u for u in (await (await client.get("/api/users")).json())["users"]}
    assert users["bob"]["locked"] is True
    response = await client.patch(f"/api/users/{cast.bob.id}", json={"unlock": True})
    assert response.status == 200
    bob = await new_client()
    await login(bob, cast.bob)
    response = await client.patch(f"/api/users/{cast.sam.id}", json={"active": False})
    assert (await response.json())["active"] is False
    assert (await sam.get("/api/me")).status == 401  # signed out everywhere
    refused = await sam.post(
        "/api/session", json={"username": "sam", "password": cast.sam.password}
    )
    assert refused.status == 401
    audit = (await (await client.get(f"/api/audit?user_id={cast.ada.id}")).json())["entries"]
    changes = [e["detail"]["privilege_change"] for e in audit if e["action"] == "update"]
    assert {"active": False} in changes
    assert {"unlocked": True} in changes
    assert (await bob.get("/api/users")).status == 403


async def test_the_admin_is_offered_deactivation_of_every_active_account_but_her_own(
    client, cast: Cast
):
    await login(client, cast.ada)
    users = {u["username"]: u for u in (await (await client.get("/api/users")).json())["users"]}
    assert users["ada"]["can_deactivate"] is False
    assert users["sam"]["can_deactivate"] is True
    own = await client.patch(f"/api/users/{cast.ada.id}", json={"active": False})
    assert own.status == 409
    assert (await own.json())["error"]["code"] == "self_deactivation"
    await client.patch(f"/api/users/{cast.sam.id}", json={"active": False})
    users = {u["username"]: u for u in (await (await client.get("/api/users")).json())["users"]}
    assert users["sam"]["can_deactivate"] is False  # already inactive: reactivate instead
