"""Web layer: the sign-in page, signing out, and where "/" leads each role."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from telehealth.auth import sessions
from telehealth.auth.models import Role
from telehealth.http.api.auth import LoginRefused, sign_in
from telehealth.http.context import actor_or_none, db, form_body, now, see_other, settings_of
from telehealth.http.errors import status_for
from telehealth.http.middleware import set_session_cookie
from telehealth.keys import SESSION_COOKIE

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
            status=status_for(exc),
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
        await sessions.end_session(db(request), token=token, now=now(request))
    response = see_other("/login?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
