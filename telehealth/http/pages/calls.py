"""Web layer: the video-visit pages (join link, patient visit, prescriber call, pre-call test).

The pages render what the server knows; the ES modules in web/static/js do the rest over
the JSON API and the /visits socket.io namespace.
"""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from telehealth.audit import Action, record_visit
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.errors import NotFound
from telehealth.http.context import db, path_id, require_actor, settings_of
from telehealth.http.pages.measures import open_alert_rows
from telehealth.http.pages.visits import record_panel_context
from telehealth.measures.questionnaires import MeasuresPolicy, pending_for_visit
from telehealth.timefmt import format_long
from telehealth.usstates import STATE_NAMES, STATES_BY_NAME
from telehealth.visits import states, summary
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import Modality, VisitStatus

routes = web.RouteTableDef()


@routes.get("/join/{token}")
async def join_page(request: web.Request) -> web.StreamResponse:
    """The invitation link's landing page. It never looks the token up, so it reveals
    nothing about whether the link exists; the script posts it with the date of birth."""
    return aiohttp_jinja2.render_template("join.html", request, {})


@routes.get("/visit/{id}")
async def patient_visit_page(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    session = db(request)
    visit = await get_visit_for(session, actor, path_id(request), roles=(Role.patient,))
    assert visit.id is not None
    profile = await session.get(PatientProfile, visit.patient_id)
    prescriber = await session.get(User, visit.prescriber_id)
    if profile is None or prescriber is None:
        raise NotFound()
    pending = await pending_for_visit(
        session, visit, MeasuresPolicy.from_settings(settings_of(request))
    )
    record_visit(session, Action.read, visit, detail={"view": "patient_visit_page"})
    can_read_summary = summary.can_read_summary(actor, visit) and await summary.summary_is_ready(
        session, visit
    )
    return aiohttp_jinja2.render_template(
        "patient_visit.html",
        request,
        {
            "visit": visit,
            "is_video": visit.modality is Modality.telehealth,
            "is_over": visit.status in states.ENDED,
            "checked_in": visit.status in states.IN_CALL,
            "prescriber_name": prescriber.full_name,
            "when": format_long(visit.start, profile.timezone),
            "home_state": visit.location_state or profile.state,
            # Before check-in only: once waiting, the call comes first.
            "pending_questionnaires": [i.name for i in pending]
            if visit.status is VisitStatus.booked
            else [],
            "states": STATES_BY_NAME,
            "can_read_summary": can_read_summary,
        },
    )


@routes.get("/visits/{id}/call")
async def prescriber_call_page(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    session = db(request)
    visit = await get_visit_for(session, actor, path_id(request), roles=(Role.prescriber,))
    if visit.prescriber_id != actor.user_id or visit.modality is not Modality.telehealth:
        raise NotFound()
    assert visit.id is not None
    patient = await session.get(User, visit.patient_id)
    profile = await session.get(PrescriberProfile, visit.prescriber_id)
    if patient is None or profile is None:
        raise NotFound()
    record_visit(session, Action.read, visit, detail={"view": "prescriber_call_page"})
    context = await record_panel_context(session, actor, visit)
    context["open_alerts"] = await open_alert_rows(session, actor, profile.timezone)
    return aiohttp_jinja2.render_template(
        "prescriber_call.html",
        request,
        {
            **context,
            "visit": visit,
            "patient_name": patient.full_name,
            "when": format_long(visit.start, profile.timezone),
            "location_name": STATE_NAMES.get(visit.location_state or "", ""),
            "is_over": visit.status in states.ENDED,
            "auto_admit": request.query.get("admit") == "1",
        },
    )


@routes.get("/precall")
async def precall_page(request: web.Request) -> web.StreamResponse:
    """Anyone signed in, a join-link patient included, may test camera and connection."""
    actor = require_actor(request)
    settings = settings_of(request)
    context: dict[str, Any] = {
        "stun_urls": ",".join(settings.stun_urls),
        "back_url": f"/visit/{actor.visit_scope}" if actor.visit_scope else "/",
        "visit_scope": actor.visit_scope or "",
    }
    return aiohttp_jinja2.render_template("precall.html", request, context)
