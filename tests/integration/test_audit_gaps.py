"""The trail names every patient whose data was touched or tried, and holds nothing a
client chose to write into it."""

import pytest
from aiohttp.test_utils import TestClient, TestServer

from telehealth.app import create_app
from tests.builders import Cast, login

# On both databases: what the audit trail holds, read back by its queries.
pytestmark = pytest.mark.both_databases


async def patient_trail(client, patient_id: int) -> list[dict]:
    response = await client.get(f"/api/audit?patient_id={patient_id}")
    assert response.status == 200
    return (await response.json())["entries"]


async def test_a_refused_chart_read_is_in_that_patients_access_report(
    client, new_client, cast: Cast
):
    charlie = await new_client()
    await login(charlie, cast.charlie)  # treats nobody here
    response = await charlie.get(f"/api/patients/{cast.alice.id}/medications")
    assert response.status == 404
    missing = await charlie.get("/api/patients/999999/medications")
    assert missing.status == 404
    assert await missing.json() == await response.json()
    await login(client, cast.ada)
    refused = [e for e in await patient_trail(client, cast.alice.id) if e["outcome"] == "failure"]
    assert [(e["user_id"], e["action"], e["resource_type"]) for e in refused] == [
        (cast.charlie.id, "access-denied", "patient_chart")
    ]
    # An id that is nobody's is recorded, but under no patient.
    entries = (await (await client.get(f"/api/audit?user_id={cast.charlie.id}")).json())["entries"]
    nobody = [e for e in entries if e["resource_id"] == "999999"]
    assert [e["patient_id"] for e in nobody] == [None]


async def test_listing_accounts_is_in_each_listed_patients_access_report(client, cast: Cast):
    await login(client, cast.ada)
    users = (await (await client.get("/api/users")).json())["users"]
    assert {"alice", "dana"} <= {u["username"] for u in users}
    for patient in (cast.alice, cast.dana):
        reads = [
            e
            for e in await patient_trail(client, patient.id)
            if e["action"] == "read" and e["user_id"] == cast.ada.id
        ]
        assert [(e["resource_type"], e["resource_id"]) for e in reads] == [
            ("user", str(patient.id))
        ]
    # Staff are not patients: nothing is filed under them.
    assert await patient_trail(client, cast.bob.id) == []


async def test_a_request_id_a_client_chose_is_not_written_into_the_trail(client, cast: Cast):
    chosen = "forged-request-id-0001"
    response = await client.post(
        "/api/session",
        json={"username": "ada", "password": cast.ada.password},
        headers={"X-Request-ID": chosen},
    )
    assert response.status == 200
    assert response.headers["X-Request-ID"] != chosen
    entries = (await (await client.get(f"/api/audit?user_id={cast.ada.id}")).json())["entries"]
    assert entries
    assert chosen not in {e["request_id"] for e in entries}


async def test_behind_the_trusted_proxy_its_request_id_is_kept(settings, clock, cast: Cast):
    app = create_app(settings.model_copy(update={"trust_proxy": True}), clock=clock)
    async with TestClient(TestServer(app)) as proxied:
        from_proxy = "nginx-request-id-0002"
        response = await proxied.post(
            "/api/session",
            json={"username": "ada", "password": cast.ada.password},
            headers={"X-Request-ID": from_proxy, "X-Forwarded-For": "203.0.113.9"},
        )
        assert response.headers["X-Request-ID"] == from_proxy
        entries = (await (await proxied.get(f"/api/audit?user_id={cast.ada.id}")).json())["entries"]
        sign_in = next(e for e in entries if e["action"] == "login")
        assert (sign_in["request_id"], sign_in["source_address"]) == (from_proxy, "203.0.113.9")
