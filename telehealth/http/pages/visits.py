"""Web layer: the visit record page (prescriber) and the after-visit summary (patient)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.audit import Action, record_visit
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor, ensure_full_session, ensure_role
from telehealth.http.context import db, now, path_id, require_actor, settings_of
from telehealth.http.pages.measures import measures_panel_context
from telehealth.timefmt import format_day, format_local, format_spoken
from telehealth.visits import notes, orders, summary
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import Modality, Visit
from telehealth.visits.orders import record_flags

routes = web.RouteTableDef()


async def record_panel_context(session: AsyncSession, actor: Actor, visit: Visit) -> dict[str, Any]:
    """What `visit_record_panel.html` needs; pages that include the panel call this too.

    The flags are policy decisions made here, never in the template or its JS.
    """
    patient = await session.get(User, visit.patient_id)
    profile = await session.get(PatientProfile, visit.patient_id)
    flags = record_flags(actor, visit)
    viewer = await session.get(PrescriberProfile, actor.user_id)
    zone = viewer.timezone if viewer else None
    return {
        # Times the panel's scripts show are in the viewer's own zone, like the page's.
        "timezone": zone,
        "measures": await measures_panel_context(session, actor, visit.patient_id, zone),
        "record": {
            "visit_id": visit.id,
            "patient_id": visit.patient_id,
            "patient_name": patient.full_name if patient else "",
            "home_state": profile.state if profile else None,
            "location_state": visit.location_state,
            "modality": visit.modality.value,
            "status": visit.status.value,
            "can_write": flags.can_write,
            "can_sign": flags.can_sign,
            "can_order": flags.can_order,
            "routes": list(orders.ROUTES),
        },
    }


@routes.get("/visits/{id}/record")
async def record_page(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    ensure_full_session(actor)
    session = db(request)
    visit = await get_visit_for(session, actor, path_id(request), roles=(Role.prescriber,))
    record_visit(session, Action.read, visit, detail={"view": "visit_record_page"})
    context = await record_panel_context(session, actor, visit)
    context["visit"] = visit
    return aiohttp_jinja2.render_template("visit_record.html", request, context)


@routes.get("/prescriber/visits")
async def past_visits_page(request: web.Request) -> web.StreamResponse:
    """The prescriber's past visits, unsigned notes first; each opens its record."""
    actor = require_actor(request)
    ensure_role(actor, Role.prescriber)
    session = db(request)
    profile = await session.get(PrescriberProfile, actor.user_id)
    zone = profile.timezone if profile else "UTC"
    rows = await notes.past_visits(session, actor=actor)
    return aiohttp_jinja2.render_template(
        "prescriber_past_visits.html",
        request,
        {
            "visits": [
                {
                    "url": f"/visits/{p.visit.id}/record",
                    "patient": p.patient_name,
                    "when": format_local(p.visit.start, zone),
                    "signed": p.signed,
                    "video": p.visit.modality is Modality.telehealth,
                }
                for p in rows
            ],
            "timezone": zone,
        },
    )


@routes.get("/visits/{id}/summary")
async def summary_page(request: web.Request) -> web.StreamResponse:
    """The after-visit summary, for the patient (a join-link session of the visit too)."""
    actor = require_actor(request)
    found = await summary.read_summary(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    upcoming = found.next_visit
    return aiohttp_jinja2.render_template(
        "visit_summary.html",
        request,
        {
            "summary": found,
            "visit_day": format_day(found.start, found.timezone),
            "next_when": format_spoken(upcoming.start, found.timezone) if upcoming else "",
            "practice_phone": settings_of(request).practice_phone,
            "back_url": f"/visit/{found.visit_id}" if actor.visit_scope else "/",
        },
    )
