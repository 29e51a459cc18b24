"""Ids no record can have and dates far outside the practice's years, in paths, bodies and
queries: answered as missing or as bad input naming the field, never a 500 (on both
databases, whose integer and date ranges differ)."""

from __future__ import annotations

import pytest

from tests.builders import error_of
from tests.integration.test_scheduling import TUESDAY_10_NY

HUGE = "99999999999999999999"
JUST_TOO_BIG = 2**31


# ---------------------------------------------------------------- ids no record can have


@pytest.mark.both_databases
async def test_ids_in_the_path_that_no_record_can_have_are_not_found(sam, cast):
    for visit_id in (HUGE, str(JUST_TOO_BIG)):
        assert (await sam.get(f"/api/visits/{visit_id}")).status == 404
        assert (await sam.get(f"/api/visits/{visit_id}/calendar.ics")).status == 404
        for action, body in (
            ("cancel", {"reason": "x"}),
            ("noshow", {}),
            ("reschedule", {"start": TUESDAY_10_NY.isoformat()}),
        ):
            response = await sam.post(f"/api/visits/{visit_id}/{action}", json=body)
            assert (await error_of(response, 404))["code"] == "not_found"
        availability = await sam.get(f"/api/prescribers/{visit_id}/availability")
        assert availability.status == 404
        assert (await sam.get(f"/prescribers/{visit_id}/availability")).status == 404


@pytest.mark.both_databases
async def test_ids_in_bodies_and_queries_that_no_record_can_have_are_unknown(sam, cast):
    for big in (int(HUGE), JUST_TOO_BIG, -1):
        patient = await sam.post(
            "/api/visits",
            json={
                "patient_id": big,
                "prescriber_id": cast.bob.id,
                "start": TUESDAY_10_NY.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert (await error_of(patient, 422))["code"] == "unknown_patient"
        prescriber = await sam.post(
            "/api/visits",
            json={
                "patient_id": cast.alice.id,
                "prescriber_id": big,
                "start": TUESDAY_10_NY.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert (await error_of(prescriber, 422))["code"] == "unknown_prescriber"
        day = {"start": "2026-10-27T04:00:00Z", "end": "2026-10-28T04:00:00Z"}
        slots = await sam.get("/api/slots", params={"prescriber_id": str(big), **day})
        assert (await error_of(slots, 404))["code"] == "not_found"
        with_patient = await sam.get(
            "/api/slots", params={"prescriber_id": cast.bob.id, "patient_id": str(big), **day}
        )
        assert with_patient.status == 200, await with_patient.text()
        assert (await with_patient.json())["slots"]
        for name in ("patient_id", "prescriber_id"):
            listed = await sam.get("/api/visits", params={name: str(big)})
            assert listed.status == 200, await listed.text()
            assert (await listed.json())["visits"] == []
        week = await sam.get("/api/schedule/week", params={"prescriber_id": str(big)})
        assert week.status == 404
        week = await sam.get(
            "/api/schedule/week", params={"prescriber_id": cast.bob.id, "patient_id": str(big)}
        )
        assert week.status == 200, await week.text()


# ---------------------------------------------------------------- dates far out of range


@pytest.mark.both_databases
async def test_dates_outside_the_years_1900_to_2200_are_refused_naming_the_field(sam, cast):
    visit = await sam.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": TUESDAY_10_NY.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert visit.status == 201, await visit.text()
    visit_id = (await visit.json())["id"]
    for start in ("9999-12-31T23:55:00Z", "0001-01-01T00:00:00+05:00", "1899-12-31T12:00:00Z"):
        booked = await sam.post(
            "/api/visits",
            json={
                "patient_id": cast.alice.id,
                "prescriber_id": cast.bob.id,
                "start": start,
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        error = await error_of(booked, 422)
        assert (error["code"], error["field"]) == ("invalid_input", "start")
        assert "1900" in error["message"]
        moved = await sam.post(f"/api/visits/{visit_id}/reschedule", json={"start": start})
        assert (await error_of(moved, 422))["field"] == "start"

    year_one = {"start": "0001-01-01T00:00:00Z", "end": "0001-01-03T00:00:00Z"}
    slots = await sam.get("/api/slots", params={"prescriber_id": cast.bob.id, **year_one})
    assert (await error_of(slots, 422))["field"] == "start"
    late = {"start": "9999-12-30T00:00:00Z", "end": "9999-12-31T00:00:00Z"}
    slots = await sam.get("/api/slots", params={"prescriber_id": cast.bob.id, **late})
    assert (await error_of(slots, 422))["field"] == "start"
    listed = await sam.get("/api/visits", params=year_one)
    assert (await error_of(listed, 422))["field"] == "start"
    for week in ("0001-01-01", "9999-12-31"):
        response = await sam.get(
            "/api/schedule/week", params={"prescriber_id": cast.bob.id, "week": week}
        )
        assert (await error_of(response, 422))["field"] == "week"
    exception = await sam.put(
        f"/api/prescribers/{cast.bob.id}/availability",
        json={"weekly": [], "exceptions": [{"date": "9999-12-31", "available": False}]},
    )
    assert (await error_of(exception, 422))["field"] == "exceptions"
