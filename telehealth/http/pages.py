"""Web layer: server-rendered pages for sign-in and each role's home."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy import text

from telehealth.auth import auditlog
from telehealth.auth import service as auth_service
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor, ensure_role
from telehealth.errors import InvalidInput
from telehealth.http.api_auth import (
    STATUS_BY_REFUSAL,
    LoginRefused,
    parse_when,
    set_session_cookie,
    sign_in,
    within_calendar,
)
from telehealth.http.context import (
    actor_or_none,
    db,
    form_body,
    int_param,
    now,
    require_actor,
    see_other,
    settings_of,
)
from telehealth.http.pages_measures import open_alert_rows, patient_measures_context
from telehealth.keys import SESSION_COOKIE, SESSIONMAKER
from telehealth.signaling.server import sessions_ended_after_commit

routes = web.RouteTableDef()

HOME_BY_ROLE = {
    Role.patient: "/patient",
    Role.prescriber: "/prescriber",
    Role.scheduler: "/scheduler",
    Role.admin: "/admin",
}


def _safe_next(value: str | None) -> str | None:
    """Only a path on this site: never an open redirect.

    Browsers drop tabs and newlines from URLs and read backslashes as slashes, so
    "/\t/evil.example" would become "//evil.example": refuse any such character, and
    anything that parses with a scheme or a host.
    """
    if not value or not value.startswith("/") or len(value) > 2000:
        return None
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return None
    return value


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    actor = actor_or_none(request)
    if actor is None:
        raise web.HTTPSeeOther("/login")
    if actor.questionnaires_only:
        raise web.HTTPSeeOther(f"/visits/{actor.visit_scope}/questionnaires")
    if actor.visit_scope is not None:
        raise web.HTTPSeeOther(f"/visit/{actor.visit_scope}")
    raise web.HTTPSeeOther(HOME_BY_ROLE[actor.role])


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    notice = None
    if request.query.get("expired") == "lifetime":
        notice = (
            f"You were signed out {settings_of(request).session_max_hours} hours after "
            "signing in. Sign in again."
        )
    elif request.query.get("expired"):
        notice = "You were signed out after a period of inactivity. Sign in again."
    elif request.query.get("visit_changed"):
        notice = (
            "Your visit was moved or cancelled, so that link no longer opens it. Use the link "
            "in your latest invitation, or call the practice."
        )
    elif request.query.get("signed_out"):
        notice = "You are signed out."
    return {"notice": notice, "next": _safe_next(request.query.get("next")) or ""}


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await form_body(request)
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    try:
        user, token = await sign_in(request, username, password)
    except LoginRefused as exc:
        response = aiohttp_jinja2.render_template(
            "login.html",
            request,
            {"error": exc.message, "username": username, "next": form.get("next", "")},
            status=STATUS_BY_REFUSAL.get(exc.code, 401),
        )
        return response
    target = _safe_next(str(form.get("next", ""))) or HOME_BY_ROLE[user.role]
    response = see_other(target)
    set_session_cookie(request, response, token)
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await auth_service.end_session(db(request), token=token, now=now(request))
        sessions_ended_after_commit(request, token=token)
    response = see_other("/login?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def _home(role: Role, template: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        actor = require_actor(request)
        ensure_role(actor, role)
        user = await auth_service.get_user(db(request), actor.user_id)
        context: dict[str, Any] = {"user": user}
        if role is Role.patient:
            context["summaries"] = await _summaries(request, actor)
            context.update(await patient_measures_context(request, actor))
        if role is Role.prescriber:
            from telehealth.auth.models import PrescriberProfile

            profile = await db(request).get(PrescriberProfile, actor.user_id)
            context["timezone"] = profile.timezone if profile else None
            context["to_sign"] = await _notes_to_sign(request, actor, context["timezone"])
        if role in (Role.prescriber, Role.admin):
            context["open_alerts"] = await open_alert_rows(
                db(request), actor, context.get("timezone")
            )
        return aiohttp_jinja2.render_template(template, request, context)

    return handler


def _day_or_time(value: str | None, name: str) -> datetime | None:
    """A form field that takes a day (YYYY-MM-DD, a UTC day; "end" includes it) or an ISO
    date-time with offset."""
    try:
        day = date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return parse_when(value, name)
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return within_calendar(midnight, name, plus=timedelta(days=1 if name == "end" else 0))


async def _audit_rows(request: web.Request, *, export: bool) -> list[auditlog.AuditRow]:
    actor = require_actor(request)
    q = request.query
    try:
        patient_id = int_param(q.get("patient_id"), "patient_id", required=False)
        user_id = int_param(q.get("user_id"), "user_id", required=False)
        start, end = _day_or_time(q.get("start"), "start"), _day_or_time(q.get("end"), "end")
    except InvalidInput:
        ensure_role(actor, Role.admin)  # a bad query shows its error to an administrator only
        raise
    return await auditlog.read_audit_log(
        db(request),
        actor=actor,
        patient=q.get("patient") or None,
        patient_id=patient_id,
        user_id=user_id,
        start=start,
        end=end,
        export=export,
    )


@routes.get("/admin/audit")
@aiohttp_jinja2.template("admin_audit.html")
async def admin_audit(request: web.Request) -> dict[str, Any]:
    rows: list[auditlog.AuditRow] = []
    error = None
    try:
        rows = await _audit_rows(request, export=False)
    except InvalidInput as exc:
        error = exc.message
    query = dict(request.query)
    return {
        "rows": rows,
        "query": query,
        "error": error,
        "csv_url": "/admin/audit.csv" + (f"?{urlencode(query)}" if query else ""),
    }


@routes.get("/admin/audit.csv")
async def admin_audit_csv(request: web.Request) -> web.StreamResponse:
    """The same search as the page, as a CSV file; the export is itself audited."""
    rows = await _audit_rows(request, export=True)
    return web.Response(
        text=auditlog.as_csv(rows),
        content_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
    )


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[SESSIONMAKER]() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def add_home_routes(app: web.Application) -> None:
    app.router.add_get("/patient", _home(Role.patient, "patient_home.html"))
    app.router.add_get("/prescriber", _home(Role.prescriber, "prescriber_home.html"))
    app.router.add_get("/scheduler", _home(Role.scheduler, "scheduler_home.html"))
    app.router.add_get("/admin", _home(Role.admin, "admin_home.html"))


async def _notes_to_sign(
    request: web.Request, actor: Actor, zone_name: str | None
) -> list[dict[str, str]]:
    """Finished visits whose note the prescriber has still to sign, in their own zone."""
    from telehealth.timefmt import format_local
    from telehealth.visits.notes import notes_to_sign

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
    from zoneinfo import ZoneInfo

    from telehealth.auth.models import PatientProfile
    from telehealth.visits.notes import signed_summaries

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
