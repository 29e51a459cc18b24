"""Web layer: JSON endpoints for visits as booked: booking, reading, moving, cancelling,
marking a no-show, the invitation and the calendar file."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.http.context import (
    db,
    now,
    path_id,
    require_actor,
    settings_of,
)
from telehealth.http.models.scheduling import (
    PatientSide,
    PrescriberSide,
    Queued,
    VisitBook,
    VisitCan,
    VisitCancel,
    VisitDisplay,
    VisitEventOut,
    VisitMove,
    VisitOut,
    Visits,
    VisitsQuery,
)
from telehealth.http.schema import api, parse_body, parse_query, respond
from telehealth.notify import announce
from telehealth.scheduling import booking, permissions, policy, queries
from telehealth.scheduling.policy import BookingRules
from telehealth.scheduling.queries import VisitView
from telehealth.timefmt import format_local
from telehealth.visits import joinlinks

routes = web.RouteTableDef()

VISIT_ERRORS = {404: "not_found", 409: "invalid_transition, visit_has_records"}


def booking_rules(request: web.Request) -> BookingRules:
    return BookingRules.from_settings(settings_of(request))


def visit_reply(
    request: web.Request, actor: Actor, view: VisitView, **extra: Any
) -> dict[str, Any]:
    """The visit's fields as `actor` may see them (the keyword arguments of `VisitOut`)."""
    visit = view.visit
    settings = settings_of(request)
    zone = view.patient_timezone if actor.role is Role.patient else view.prescriber_timezone
    can = permissions.visit_can(actor, visit, now(request), has_records=view.has_records)
    fields: dict[str, Any] = {
        "id": visit.id,
        "status": visit.status.value,
        "start": visit.start.isoformat(),
        "end": visit.end.isoformat(),
        "modality": visit.modality.value,
        "visit_type": visit.visit_type.value,
        "sequence": visit.sequence,
        "patient": PatientSide(
            id=visit.patient_id,
            full_name=view.patient_name,
            timezone=view.patient_timezone,
            state=view.patient_state,
        ),
        "prescriber": PrescriberSide(
            id=visit.prescriber_id,
            full_name=view.prescriber_name,
            timezone=view.prescriber_timezone,
        ),
        "patient_id": visit.patient_id,
        "prescriber_id": visit.prescriber_id,
        "display": VisitDisplay(
            timezone=zone,
            date=visit.start.astimezone(ZoneInfo(zone)).date().isoformat(),
            start=format_local(visit.start, zone),
            end=format_local(visit.end, zone),
            patient_start=format_local(visit.start, view.patient_timezone),
            prescriber_start=format_local(visit.start, view.prescriber_timezone),
        ),
        "join_url": joinlinks.join_url(settings.base_url, visit, settings.secret_key)
        if policy.can_see_join_link(actor, visit)
        else None,
        "can": VisitCan(**asdict(can)),
    }
    reason = policy.visible_cancel_reason(actor, visit)
    if reason is not None:
        fields["cancel_reason"] = reason
    return fields | extra


def _visit(request: web.Request, actor: Actor, view: VisitView, **extra: Any) -> VisitOut:
    return VisitOut(**visit_reply(request, actor, view, **extra))


# ---------------------------------------------------------------- visits


@routes.post("/api/visits")
@api(
    body=VisitBook,
    responses={201: ("Booked", VisitOut)},
    errors={
        409: "slot_taken",
        422: "outside_availability, not_licensed_in_state, unknown_patient, "
        "unknown_prescriber, start_in_past, invalid_input",
    },
)
async def book(request: web.Request) -> web.StreamResponse:
    """Book a visit; 409 slot_taken, 422 outside_availability or not_licensed_in_state."""
    actor = require_actor(request)
    body = await parse_body(request, VisitBook)
    visit = await booking.book_visit(
        db(request),
        actor=actor,
        patient_id=body.patient_id,
        prescriber_id=body.prescriber_id,
        start=body.start,
        visit_type=body.visit_type,
        modality=body.modality,
        now=now(request),
        rules=booking_rules(request),
    )
    view = await queries.view_visit(db(request), visit)
    return respond(_visit(request, actor, view), status=201, omit_unset=True)


@routes.get("/api/visits")
@api(
    query=VisitsQuery, responses={200: ("Visits, by start", Visits)}, errors={422: "invalid_input"}
)
async def list_visits(request: web.Request) -> web.StreamResponse:
    """Visits the caller may see: a patient or prescriber their own, staff all."""
    actor = require_actor(request)
    q = parse_query(request, VisitsQuery)
    views = await queries.list_visits(
        db(request),
        actor=actor,
        prescriber_id=q.prescriber_id,
        patient_id=q.patient_id,
        start=q.start,
        end=q.end,
        include_inactive=not q.upcoming and not q.active,
        ends_after=now(request) if q.upcoming else None,
    )
    zone = await queries.viewer_timezone(db(request), actor)
    today = now(request).astimezone(ZoneInfo(zone) if zone else UTC).date()
    return respond(
        Visits(
            visits=[_visit(request, actor, v) for v in views],
            timezone=zone,
            today=today.isoformat(),
        ),
        omit_unset=True,
    )


@routes.get("/api/visits/{id}")
@api(responses={200: ("The visit", VisitOut)}, errors={404: "not_found"})
async def get_visit(request: web.Request) -> web.StreamResponse:
    """One visit (its patient, its prescriber, scheduler, admin); staff also get history."""
    actor = require_actor(request)
    view = await queries.read_visit(db(request), actor=actor, visit_id=path_id(request))
    extra: dict[str, Any] = {}
    if policy.can_see_history(actor):
        extra["history"] = [
            VisitEventOut(
                at=e.at.isoformat(),
                kind=e.kind,
                actor_id=e.actor_id,
                role=e.role,
                detail=e.detail,
            )
            for e in await queries.history(db(request), view.visit)
        ]
    return respond(_visit(request, actor, view, **extra), omit_unset=True)


@routes.post("/api/visits/{id}/cancel")
@api(body=VisitCancel, responses={200: ("Cancelled", VisitOut)}, errors=VISIT_ERRORS)
async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a visit with a reason; frees its time and voids its join link."""
    actor = require_actor(request)
    body = await parse_body(request, VisitCancel)
    visit = await booking.cancel_visit(
        db(request), actor=actor, visit_id=path_id(request), reason=body.reason, now=now(request)
    )
    view = await queries.view_visit(db(request), visit)
    return respond(_visit(request, actor, view), omit_unset=True)


@routes.post("/api/visits/{id}/invite")
@api(
    responses={202: ("Queued", Queued)},
    errors={404: "not_found", 409: "visit_not_upcoming", 422: "no_email"},
)
async def resend_invitation(request: web.Request) -> web.StreamResponse:
    """Send the invitation (link and calendar file) to the patient's email again."""
    actor = require_actor(request)
    await announce.resend_invitation(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    return respond(Queued(status="queued"), status=202)


@routes.post("/api/visits/{id}/reschedule")
@api(
    body=VisitMove,
    responses={200: ("Moved", VisitOut)},
    errors={**VISIT_ERRORS, 409: "slot_taken, invalid_transition"},
)
async def reschedule(request: web.Request) -> web.StreamResponse:
    """Move a visit (same id); the sequence goes up and the old join link stops working."""
    actor = require_actor(request)
    body = await parse_body(request, VisitMove)
    visit = await booking.reschedule_visit(
        db(request), actor=actor, visit_id=path_id(request), start=body.start, now=now(request)
    )
    view = await queries.view_visit(db(request), visit)
    return respond(_visit(request, actor, view), omit_unset=True)


@routes.post("/api/visits/{id}/noshow")
@api(responses={200: ("Marked as a no-show", VisitOut)}, errors=VISIT_ERRORS)
async def noshow(request: web.Request) -> web.StreamResponse:
    """Mark a visit as a no-show after its start; frees its time."""
    actor = require_actor(request)
    visit = await booking.mark_noshow(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    view = await queries.view_visit(db(request), visit)
    return respond(_visit(request, actor, view), omit_unset=True)


@routes.get("/api/visits/{id}/calendar.ics")
@api(responses={200: ("The invite", "text/calendar")}, errors={404: "not_found"})
async def calendar(request: web.Request) -> web.StreamResponse:
    """The visit's calendar invite (.ics) in the reader's time zone, without clinical detail."""
    settings = settings_of(request)
    visit_id, data = await queries.calendar_invite(
        db(request),
        actor=require_actor(request),
        visit_id=path_id(request),
        base_url=settings.base_url,
        secret=settings.secret_key,
        now=now(request),
    )
    return web.Response(
        body=data,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="visit-{visit_id}.ics"'},
    )
