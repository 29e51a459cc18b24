"""Web layer: JSON endpoints for the calendar side of booking: prescribers and their hours,
free slots, patient search and one prescriber's week."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from telehealth.auth.policy import Actor
from telehealth.http.api.bookings import booking_rules, visit_reply
from telehealth.http.context import (
    db,
    now,
    path_id,
    require_actor,
)
from telehealth.http.models.scheduling import (
    AvailabilityOut,
    AvailabilitySave,
    PatientOut,
    PatientQuery,
    Patients,
    PrescriberOut,
    Prescribers,
    Slot,
    Slots,
    SlotsQuery,
    WeekDay,
    WeekOut,
    WeekPrescriber,
    WeekQuery,
    WeekSlot,
    WeekVisit,
)
from telehealth.http.pages.scheduling import Week, week_schedule
from telehealth.http.schema import api, parse_body, parse_query, respond
from telehealth.scheduling import availability, policy, queries
from telehealth.scheduling.availability import Availability
from telehealth.scheduling.queries import PatientMatch
from telehealth.timefmt import format_local, format_time

routes = web.RouteTableDef()

# ---------------------------------------------------------------- prescribers, availability


def _availability(a: Availability) -> web.Response:
    return respond(AvailabilityOut.of(a), omit_unset=True)


@routes.get("/api/prescribers")
@api(responses={200: ("Active prescribers, by name", Prescribers)}, errors={403: "forbidden"})
async def prescribers(request: web.Request) -> web.StreamResponse:
    """Prescribers with credential, licensed states, time zone and buffer (staff)."""
    actor = require_actor(request)
    found = await queries.list_prescribers(db(request), actor=actor)
    return respond(
        Prescribers(
            prescribers=[
                PrescriberOut(
                    id=p.id,
                    full_name=p.full_name,
                    credential=p.credential,
                    licensed_states=p.licensed_states,
                    timezone=p.timezone,
                    buffer_minutes=p.buffer_minutes,
                )
                for p in found
            ]
        )
    )


@routes.get("/api/prescribers/{id}/availability")
@api(responses={200: ("The hours on file", AvailabilityOut)}, errors={404: "not_found"})
async def get_availability(request: web.Request) -> web.StreamResponse:
    """A prescriber's weekly hours, date exceptions and buffer, in their own zone."""
    actor = require_actor(request)
    result = await availability.get_availability(
        db(request), actor=actor, prescriber_id=path_id(request)
    )
    return _availability(result)


@routes.put("/api/prescribers/{id}/availability")
@api(
    body=AvailabilitySave,
    responses={200: ("Saved", AvailabilityOut)},
    errors={403: "forbidden", 404: "not_found", 422: "invalid_input"},
)
async def put_availability(request: web.Request) -> web.StreamResponse:
    """Replace a prescriber's hours (that prescriber, a scheduler or an admin)."""
    actor = require_actor(request)
    prescriber_id = path_id(request)
    policy.ensure_can_edit_availability(actor, prescriber_id)
    body = await parse_body(request, AvailabilitySave)
    result = await availability.set_availability(
        db(request),
        actor=actor,
        prescriber_id=prescriber_id,
        weekly=body.weekly,
        exceptions=body.exceptions,
        buffer_minutes=body.buffer_minutes,
    )
    return _availability(result)


# ---------------------------------------------------------------- slots, patients


@routes.get("/api/slots")
@api(query=SlotsQuery, responses={200: ("Free slots", Slots)}, errors={422: "invalid_input"})
async def slots(request: web.Request) -> web.StreamResponse:
    """Free starts for one visit type with a prescriber in a date range (staff who book)."""
    actor = require_actor(request)
    q = parse_query(request, SlotsQuery)
    found = await availability.list_slots(
        db(request),
        actor=actor,
        prescriber_id=q.prescriber_id,
        start=q.start,
        end=q.end,
        visit_type=q.visit_type,
        now=now(request),
        rules=booking_rules(request),
        patient_id=q.patient_id,
    )
    return respond(
        Slots(slots=[Slot(start=s.start.isoformat(), end=s.end.isoformat()) for s in found])
    )


def patient_out(p: PatientMatch) -> PatientOut:
    return PatientOut(
        id=p.id,
        full_name=p.full_name,
        date_of_birth=p.date_of_birth.isoformat(),
        state=p.state,
        timezone=p.timezone,
    )


@routes.get("/api/patients")
@api(query=PatientQuery, responses={200: ("Matches", Patients)}, errors={422: "invalid_input"})
async def patients(request: web.Request) -> web.StreamResponse:
    """Find patients by part of the name or by date of birth (staff who book)."""
    actor = require_actor(request)
    q = parse_query(request, PatientQuery)
    found = await queries.search_patients(db(request), actor=actor, q=q.q)
    return respond(Patients(patients=[patient_out(p) for p in found]))


@routes.get("/api/patients/{id}")
@api(responses={200: ("The patient", PatientOut)}, errors={404: "not_found"})
async def patient(request: web.Request) -> web.StreamResponse:
    """One patient by id (staff who book): what a deep link or a reload of the week opens."""
    actor = require_actor(request)
    found = await queries.get_patient_for_booking(
        db(request), actor=actor, patient_id=path_id(request)
    )
    return respond(patient_out(found))


@routes.get("/api/schedule/week")
@api(
    query=WeekQuery,
    responses={200: ("The week, day by day", WeekOut)},
    errors={403: "forbidden", 404: "not_found", 422: "invalid_input"},
)
async def week(request: web.Request) -> web.StreamResponse:
    """One prescriber's week: free slots and booked visits per day, in their zone (staff).

    Labels are made here, so the page only displays them; each visit is also labelled in
    the patient's zone."""
    actor = require_actor(request)
    q = parse_query(request, WeekQuery)
    result = await week_schedule(
        db(request),
        actor=actor,
        prescriber_id=q.prescriber_id,
        week_of=q.week,
        visit_type=q.visit_type,
        now=now(request),
        rules=booking_rules(request),
        patient_id=q.patient_id,
        include_cancelled=q.include_cancelled,
    )
    return respond(_week(request, actor, result), omit_unset=True)


def _week(request: web.Request, actor: Actor, result: Week) -> WeekOut:
    zone = result.prescriber.timezone
    last = result.start + timedelta(days=6)
    return WeekOut(
        prescriber=WeekPrescriber(
            id=result.prescriber.id,
            full_name=result.prescriber.full_name,
            timezone=zone,
            licensed_states=result.prescriber.licensed_states,
        ),
        timezone=zone,
        week_start=result.start.isoformat(),
        prev_week=(result.start - timedelta(days=7)).isoformat(),
        next_week=(result.start + timedelta(days=7)).isoformat(),
        label=f"{result.start:%a} {result.start.day} {result.start:%b} to "
        f"{last:%a} {last.day} {last:%b} {last.year}",
        days=[
            WeekDay(
                date=d.on.isoformat(),
                label=f"{d.on:%a} {d.on.day} {d.on:%b}",
                past=d.past,
                slots=[
                    WeekSlot(
                        start=s.start.isoformat(),
                        end=s.end.isoformat(),
                        label=format_local(s.start, zone),
                        time=format_time(s.start, zone),
                        short_time=format_time(s.start, zone, with_zone=False),
                        patient_label=format_local(s.start, result.patient_timezone)
                        if result.patient_timezone
                        else None,
                    )
                    for s in d.slots
                ],
                visits=[
                    WeekVisit(
                        **visit_reply(
                            request,
                            actor,
                            v,
                            time=format_time(v.visit.start, zone),
                            minutes=int((v.visit.end - v.visit.start).total_seconds() // 60),
                        )
                    )
                    for v in d.visits
                ],
            )
            for d in result.days
        ],
    )
