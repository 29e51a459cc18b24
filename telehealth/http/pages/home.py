"""Web layer: each role's home page."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from telehealth.auth import accounts
from telehealth.auth.models import PatientProfile, PrescriberProfile, Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.http.context import db, require_actor
from telehealth.http.pages.measures import open_alert_rows, patient_measures_context
from telehealth.timefmt import format_local
from telehealth.visits.notes import notes_to_sign, signed_summaries


def add_home_routes(app: web.Application) -> None:
    app.router.add_get("/patient", _home(Role.patient, "patient_home.html"))
    app.router.add_get("/prescriber", _home(Role.prescriber, "prescriber_home.html"))
    app.router.add_get("/scheduler", _home(Role.scheduler, "scheduler_home.html"))
    app.router.add_get("/admin", _home(Role.admin, "admin_home.html"))


def _home(role: Role, template: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        actor = require_actor(request)
        ensure_role(actor, role)
        user = await accounts.get_user(db(request), actor.user_id)
        context: dict[str, Any] = {"user": user}
        if role is Role.patient:
            context["summaries"] = await _summaries(request, actor)
            context.update(await patient_measures_context(request, actor))
        if role is Role.prescriber:
            profile = await db(request).get(PrescriberProfile, actor.user_id)
            context["timezone"] = profile.timezone if profile else None
            context["to_sign"] = await _notes_to_sign(request, actor, context["timezone"])
        if role in (Role.prescriber, Role.admin):
            context["open_alerts"] = await open_alert_rows(
                db(request), actor, context.get("timezone")
            )
        return aiohttp_jinja2.render_template(template, request, context)

    return handler


async def _notes_to_sign(
    request: web.Request, actor: Actor, zone_name: str | None
) -> list[dict[str, str]]:
    """Finished visits whose note the prescriber has still to sign, in their own zone."""
    return [
        {
            "url": f"/visits/{visit.id}/record",
            "patient": patient_name,
            "when": format_local(visit.start, zone_name or "UTC"),
        }
        for visit, patient_name in await notes_to_sign(db(request), actor=actor)
    ]


async def _summaries(request: web.Request, actor: Actor) -> list[dict[str, str]]:
    """The patient's signed after-visit summaries, dated in their own zone."""
    session = db(request)
    profile = await session.get(PatientProfile, actor.user_id)
    zone = ZoneInfo(profile.timezone if profile else "UTC")
    return [
        {
            "url": f"/visits/{visit.id}/summary",
            "when": f"{visit.start.astimezone(zone):%A %-d %B %Y} ({zone.key})",
        }
        for visit, _signed in await signed_summaries(session, actor=actor)
    ]
