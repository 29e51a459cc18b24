"""Web layer: JSON endpoints for availability, slots, booking, visit changes, invites and joins."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput, NotFound
from telehealth.http.context import (
    client_address,
    db,
    json_body,
    now,
    parse_when,
    path_id,
    require_actor,
    settings_of,
)
from telehealth.http.middleware import set_session_cookie
from telehealth.http.models.auth import UserRef
from telehealth.measures.questionnaires import MeasuresPolicy, pending_for_visit
from telehealth.notify import announce
from telehealth.scheduling import permissions, policy
from telehealth.scheduling import service as svc
from telehealth.signaling.server import after_commit
from telehealth.timefmt import format_local, format_time
from telehealth.visits import joinlinks

routes = web.RouteTableDef()

JOIN_NOT_FOUND = {
    "error": {
        "code": "not_found",
        "message": "This link is not valid now, or the date of birth does not match. Check the "
        "link and your date of birth, or contact the practice for a new link.",
    }
}


def _rules(request: web.Request) -> svc.BookingRules:
    return svc.BookingRules.from_settings(settings_of(request))


def _required_when(value: object, name: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} is required (ISO 8601 with offset).", field=name)
    parsed = parse_when(value, name, check=lambda when: svc.ensure_sane_date(when, name))
    assert parsed is not None
    return parsed


def _required_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number.", field=name)
    return value


def _query_id(value: str | None, name: str) -> int | None:
    """An id from the query string. Any whole number is passed on: the service answers one
    that no record can have exactly as it answers an unknown one."""
    if value is None or value == "":
        return None
    # Digits 0-9, perhaps after a minus: not "+1", "1_0" or other scripts' digits.
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 20):
        raise InvalidInput(f"{name} must be a whole number (digits 0-9).", field=name)
    return int(value)


def _required_query_id(value: str | None, name: str) -> int:
    parsed = _query_id(value, name)
    if parsed is None:
        raise InvalidInput(f"{name} is required.", field=name)
    return parsed


def _record_id(request: web.Request) -> int:
    """The id in the path; one that no record can have is answered like a missing record."""
    record_id = path_id(request)
    if not is_row_id(record_id):
        raise NotFound()
    return record_id


def _viewer_zone(actor: Actor, view: svc.VisitView) -> str:
    if actor.role is Role.patient:
        return view.patient_timezone
    return view.prescriber_timezone


def visit_json(request: web.Request, actor: Actor, view: svc.VisitView) -> dict[str, Any]:
    visit = view.visit
    settings = settings_of(request)
    zone = _viewer_zone(actor, view)
    body: dict[str, Any] = {
        "id": visit.id,
        "status": visit.status.value,
        "start": visit.start.isoformat(),
        "end": visit.end.isoformat(),
        "modality": visit.modality.value,
        "visit_type": visit.visit_type.value,
        "sequence": visit.sequence,
        "patient": {
            "id": visit.patient_id,
            "full_name": view.patient_name,
            "timezone": view.patient_timezone,
            "state": view.patient_state,
        },
        "prescriber": {
            "id": visit.prescriber_id,
            "full_name": view.prescriber_name,
            "timezone": view.prescriber_timezone,
        },
        "patient_id": visit.patient_id,
        "prescriber_id": visit.prescriber_id,
        "display": {
            "timezone": zone,
            "date": visit.start.astimezone(ZoneInfo(zone)).date().isoformat(),
            "start": format_local(visit.start, zone),
            "end": format_local(visit.end, zone),
            "patient_start": format_local(visit.start, view.patient_timezone),
            "prescriber_start": format_local(visit.start, view.prescriber_timezone),
        },
        "join_url": None,
    }
    if policy.can_see_join_link(actor, visit):
        body["join_url"] = joinlinks.join_url(settings.base_url, visit, settings.secret_key)
    if actor.role in (Role.scheduler, Role.admin) and visit.cancel_reason:
        body["cancel_reason"] = visit.cancel_reason
    can = permissions.visit_can(actor, visit, now(request), has_records=view.has_records)
    body["can"] = asdict(can)
    return body


# ---------------------------------------------------------------- prescribers, availability


def _availability_json(a: svc.Availability) -> dict[str, Any]:
    return {
        "prescriber_id": a.prescriber_id,
        "timezone": a.timezone,
        "buffer_minutes": a.buffer_minutes,
        "weekly": a.weekly,
        "exceptions": a.exceptions,
    }


@routes.get("/api/prescribers")
async def prescribers(request: web.Request) -> web.StreamResponse:
    """Prescribers with credential, licensed states, time zone and buffer (staff)."""
    actor = require_actor(request)
    found = await svc.list_prescribers(db(request), actor=actor)
    return web.json_response(
        {
            "prescribers": [
                {
                    "id": p.id,
                    "full_name": p.full_name,
                    "credential": p.credential,
                    "licensed_states": p.licensed_states,
                    "timezone": p.timezone,
                    "buffer_minutes": p.buffer_minutes,
                }
                for p in found
            ]
        }
    )


@routes.get("/api/prescribers/{id}/availability")
async def get_availability(request: web.Request) -> web.StreamResponse:
    """A prescriber's weekly hours, date exceptions and buffer, in their own zone."""
    actor = require_actor(request)
    result = await svc.get_availability(db(request), actor=actor, prescriber_id=_record_id(request))
    return web.json_response(_availability_json(result))


@routes.put("/api/prescribers/{id}/availability")
async def put_availability(request: web.Request) -> web.StreamResponse:
    """Replace a prescriber's hours (that prescriber, a scheduler or an admin)."""
    actor = require_actor(request)
    body = await json_body(request)
    buffer = body.get("buffer_minutes")
    result = await svc.set_availability(
        db(request),
        actor=actor,
        prescriber_id=_record_id(request),
        weekly=body.get("weekly"),
        exceptions=body.get("exceptions", []),
        buffer_minutes=buffer if buffer is None else _required_int(buffer, "buffer_minutes"),
    )
    return web.json_response(_availability_json(result))


# ---------------------------------------------------------------- slots, patients


@routes.get("/api/slots")
async def slots(request: web.Request) -> web.StreamResponse:
    """Free starts for one visit type with a prescriber in a date range (staff who book)."""
    actor = require_actor(request)
    q = request.query
    prescriber_id = _required_query_id(q.get("prescriber_id"), "prescriber_id")
    found = await svc.list_slots(
        db(request),
        actor=actor,
        prescriber_id=prescriber_id,
        start=_required_when(q.get("start"), "start"),
        end=_required_when(q.get("end"), "end"),
        visit_type=svc.parse_visit_type(q.get("visit_type", "follow_up")),
        now=now(request),
        rules=_rules(request),
        patient_id=_query_id(q.get("patient_id"), "patient_id"),
    )
    return web.json_response(
        {"slots": [{"start": s.start.isoformat(), "end": s.end.isoformat()} for s in found]}
    )


@routes.get("/api/patients")
async def patients(request: web.Request) -> web.StreamResponse:
    """Find patients by part of the name or by date of birth (staff who book)."""
    actor = require_actor(request)
    found = await svc.search_patients(db(request), actor=actor, q=request.query.get("q", ""))
    return web.json_response({"patients": [patient_json(p) for p in found]})


@routes.get("/api/patients/{id}")
async def patient(request: web.Request) -> web.StreamResponse:
    """One patient by id (staff who book): what a deep link or a reload of the week opens."""
    actor = require_actor(request)
    found = await svc.get_patient_for_booking(db(request), actor=actor, patient_id=path_id(request))
    return web.json_response(patient_json(found))


def patient_json(p: svc.PatientMatch) -> dict[str, Any]:
    return {
        "id": p.id,
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.isoformat(),
        "state": p.state,
        "timezone": p.timezone,
    }


# ---------------------------------------------------------------- visits


@routes.post("/api/visits")
async def book(request: web.Request) -> web.StreamResponse:
    """Book a visit; 409 slot_taken, 422 outside_availability or not_licensed_in_state."""
    actor = require_actor(request)
    body = await json_body(request)
    visit = await svc.book_visit(
        db(request),
        actor=actor,
        patient_id=_required_int(body.get("patient_id"), "patient_id"),
        prescriber_id=_required_int(body.get("prescriber_id"), "prescriber_id"),
        start=_required_when(body.get("start"), "start"),
        visit_type=svc.parse_visit_type(body.get("visit_type")),
        modality=svc.parse_modality(body.get("modality")),
        now=now(request),
        rules=_rules(request),
    )
    view = await svc.view_visit(db(request), visit)
    return web.json_response(visit_json(request, actor, view), status=201)


@routes.get("/api/visits")
async def list_visits(request: web.Request) -> web.StreamResponse:
    """Visits the caller may see: a patient or prescriber their own, staff all."""
    actor = require_actor(request)
    q = request.query
    upcoming = q.get("upcoming") in ("1", "true")
    views = await svc.list_visits(
        db(request),
        actor=actor,
        prescriber_id=_query_id(q.get("prescriber_id"), "prescriber_id"),
        patient_id=_query_id(q.get("patient_id"), "patient_id"),
        start=parse_when(q.get("start"), "start"),
        end=parse_when(q.get("end"), "end"),
        include_inactive=not upcoming and q.get("active") not in ("1", "true"),
        ends_after=now(request) if upcoming else None,
    )
    zone = await svc.viewer_timezone(db(request), actor)
    today = now(request).astimezone(ZoneInfo(zone) if zone else UTC).date()
    return web.json_response(
        {
            "visits": [visit_json(request, actor, v) for v in views],
            "timezone": zone,
            "today": today.isoformat(),
        }
    )


@routes.get("/api/schedule/week")
async def week(request: web.Request) -> web.StreamResponse:
    """One prescriber's week: free slots and booked visits per day, in their zone (staff).

    Labels are made here, so the page only displays them; each visit is also labelled in
    the patient's zone."""
    actor = require_actor(request)
    q = request.query
    prescriber_id = _required_query_id(q.get("prescriber_id"), "prescriber_id")
    week_of = q.get("week")
    try:
        anchor = date.fromisoformat(week_of) if week_of else None
    except ValueError:
        raise InvalidInput("week must be a date as YYYY-MM-DD.", field="week") from None
    result = await svc.week_schedule(
        db(request),
        actor=actor,
        prescriber_id=prescriber_id,
        week_of=anchor,
        visit_type=svc.parse_visit_type(q.get("visit_type", "follow_up")),
        now=now(request),
        rules=_rules(request),
        patient_id=_query_id(q.get("patient_id"), "patient_id"),
        include_cancelled=q.get("include_cancelled") in ("1", "true"),
    )
    zone = result.prescriber.timezone
    last = result.start + timedelta(days=6)
    return web.json_response(
        {
            "prescriber": {
                "id": result.prescriber.id,
                "full_name": result.prescriber.full_name,
                "timezone": zone,
                "licensed_states": result.prescriber.licensed_states,
            },
            "timezone": zone,
            "week_start": result.start.isoformat(),
            "prev_week": (result.start - timedelta(days=7)).isoformat(),
            "next_week": (result.start + timedelta(days=7)).isoformat(),
            "label": f"{result.start:%a} {result.start.day} {result.start:%b} to "
            f"{last:%a} {last.day} {last:%b} {last.year}",
            "days": [
                {
                    "date": d.on.isoformat(),
                    "label": f"{d.on:%a} {d.on.day} {d.on:%b}",
                    "past": d.past,
                    "slots": [
                        {
                            "start": s.start.isoformat(),
                            "end": s.end.isoformat(),
                            "label": format_local(s.start, zone),
                            "time": format_time(s.start, zone),
                            "short_time": format_time(s.start, zone, with_zone=False),
                            "patient_label": format_local(s.start, result.patient_timezone)
                            if result.patient_timezone
                            else None,
                        }
                        for s in d.slots
                    ],
                    "visits": [
                        visit_json(request, actor, v)
                        | {
                            "time": format_time(v.visit.start, zone),
                            "minutes": int((v.visit.end - v.visit.start).total_seconds() // 60),
                        }
                        for v in d.visits
                    ],
                }
                for d in result.days
            ],
        }
    )


@routes.get("/api/visits/{id}")
async def get_visit(request: web.Request) -> web.StreamResponse:
    """One visit (its patient, its prescriber, scheduler, admin); staff also get history."""
    actor = require_actor(request)
    view = await svc.read_visit(db(request), actor=actor, visit_id=_record_id(request))
    body = visit_json(request, actor, view)
    if actor.role in (Role.scheduler, Role.admin):
        body["history"] = [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor_id": e.actor_id,
                "role": e.role,
                "detail": e.detail,
            }
            for e in await svc.history(db(request), view.visit)
        ]
    return web.json_response(body)


@routes.post("/api/visits/{id}/cancel")
async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancel a visit with a reason; frees its time and voids its join link."""
    actor = require_actor(request)
    body = await json_body(request)
    visit = await svc.cancel_visit(
        db(request),
        actor=actor,
        visit_id=_record_id(request),
        reason=body.get("reason"),
        now=now(request),
    )
    after_commit(request, "changed", _record_id(request))
    view = await svc.view_visit(db(request), visit)
    return web.json_response(visit_json(request, actor, view))


@routes.post("/api/visits/{id}/invite")
async def resend_invitation(request: web.Request) -> web.StreamResponse:
    """Send the invitation (link and calendar file) to the patient's email again."""
    actor = require_actor(request)
    await announce.resend_invitation(
        db(request), actor=actor, visit_id=_record_id(request), now=now(request)
    )
    return web.json_response({"status": "queued"}, status=202)


@routes.post("/api/visits/{id}/reschedule")
async def reschedule(request: web.Request) -> web.StreamResponse:
    """Move a visit (same id); the sequence goes up and the old join link stops working."""
    actor = require_actor(request)
    body = await json_body(request)
    visit = await svc.reschedule_visit(
        db(request),
        actor=actor,
        visit_id=_record_id(request),
        start=_required_when(body.get("start"), "start"),
        now=now(request),
    )
    after_commit(request, "changed", _record_id(request))
    view = await svc.view_visit(db(request), visit)
    return web.json_response(visit_json(request, actor, view))


@routes.post("/api/visits/{id}/noshow")
async def noshow(request: web.Request) -> web.StreamResponse:
    """Mark a visit as a no-show after its start; frees its time."""
    actor = require_actor(request)
    visit = await svc.mark_noshow(
        db(request), actor=actor, visit_id=_record_id(request), now=now(request)
    )
    after_commit(request, "changed", _record_id(request))
    view = await svc.view_visit(db(request), visit)
    return web.json_response(visit_json(request, actor, view))


@routes.get("/api/visits/{id}/calendar.ics")
async def calendar(request: web.Request) -> web.StreamResponse:
    """The visit's calendar invite (.ics) in the reader's time zone, without clinical detail."""
    settings = settings_of(request)
    visit_id, data = await svc.calendar_invite(
        db(request),
        actor=require_actor(request),
        visit_id=_record_id(request),
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


# ---------------------------------------------------------------- join links


@routes.post("/api/join")
async def join(request: web.Request) -> web.StreamResponse:
    """Open a join link with the date of birth: a session for that one visit, or 404.

    Every failure gets the same 404 body; the response is returned, not raised, so the
    failed-try counter is committed."""
    body = await json_body(request)
    token, dob = body.get("token"), body.get("date_of_birth")
    if not isinstance(token, str) or not isinstance(dob, str):
        return web.json_response(JOIN_NOT_FOUND, status=404)
    settings = settings_of(request)
    opened = await joinlinks.open_join_link(
        db(request),
        token=token,
        date_of_birth=dob,
        now=now(request),
        secret=settings.secret_key,
        max_attempts=settings.join_attempts,
        source_address=client_address(request),
    )
    if isinstance(opened, joinlinks.JoinRefused):
        return join_refused(opened)
    visit_id = opened.visit.id
    answer: dict[str, Any] = {"visit_id": visit_id, "user": UserRef.of(opened.user).model_dump()}
    if opened.finished:
        # After the visit, the link leads to its ended page (and summary, once signed).
        answer["status"] = "finished"
        answer["next"] = f"/visit/{visit_id}"
    else:
        # The questionnaires the visit asks come before the device check.
        pending = await pending_for_visit(
            db(request), opened.visit, MeasuresPolicy.from_settings(settings)
        )
        answer["next"] = f"/visits/{visit_id}/questionnaires" if pending else f"/visit/{visit_id}"
    response = web.json_response(answer)
    set_session_cookie(request, response, opened.session_token)
    return response


def join_refused(refused: joinlinks.JoinRefused) -> web.Response:
    """The answer for a link that did not open (times in the patient's own zone)."""
    reason = joinlinks.JoinRefusal
    if refused.reason is reason.not_found:
        return web.json_response(JOIN_NOT_FOUND, status=404)
    if refused.reason is reason.link_locked:
        message = (
            "This link is locked after too many tries with a date of birth that did not "
            "match. Call the practice: they can check your details and send you a new link."
        )
        return web.json_response({"error": {"code": "link_locked", "message": message}}, status=429)
    error: dict[str, Any] = {"code": refused.reason.value}
    zone = refused.timezone
    if refused.reason is reason.too_early and refused.opens_at and refused.start:
        error["opens_at"] = refused.opens_at.isoformat()
        error["start"] = refused.start.isoformat()
        error["message"] = (
            f"Your visit is on {format_local(refused.start, zone)}. You can join from "
            f"{format_local(refused.opens_at, zone)}, 30 minutes before it starts: open this "
            "link again then."
        )
    elif refused.reason is reason.visit_moved and refused.start:
        error["start"] = refused.start.isoformat()
        error["message"] = (
            f"Your visit was moved to {format_local(refused.start, zone)}. Use the link in "
            "your newest invitation email, or call the practice for it."
        )
    elif refused.reason is reason.visit_cancelled:
        error["message"] = "This visit was cancelled. Call the practice to book another time."
    else:
        error["message"] = (
            "The time of this visit has passed. Call the practice to book another visit."
        )
    return web.json_response({"error": error}, status=409)
