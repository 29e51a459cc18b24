"""A booking is not care: a prescriber reaches a patient's chart once the patient came."""

from datetime import timedelta

from tests.builders import Cast, login, make_visit


async def test_a_prescriber_with_only_a_future_booking_sees_nothing_of_the_chart(
    client, cast: Cast, sessionmaker, clock
):
    await make_visit(sessionmaker, cast.alice, cast.charlie, clock.now + timedelta(days=300))
    await make_visit(
        sessionmaker, cast.alice, cast.charlie, clock.now - timedelta(days=3), status="noshow"
    )
    await login(client, cast.charlie)
    meds = await client.get(f"/api/patients/{cast.alice.id}/medications")
    assert meds.status == 404
    attest = await client.post(
        f"/api/patients/{cast.alice.id}/in-person-evaluations",
        json={
            "date": (clock.now - timedelta(days=30)).date().isoformat(),
            "location": "Clinic",
            "attestation": "I evaluated this patient in person.",
        },
    )
    assert attest.status == 404


async def test_once_the_patient_checks_in_the_prescriber_sees_the_chart(
    client, cast: Cast, sessionmaker, clock
):
    await make_visit(
        sessionmaker, cast.alice, cast.charlie, clock.now, status="waiting", location_state="NY"
    )
    await login(client, cast.charlie)
    meds = await client.get(f"/api/patients/{cast.alice.id}/medications")
    assert meds.status == 200
