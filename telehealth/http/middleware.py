"""Web layer: request ids, logs, security headers, one transaction per request, errors, CSRF."""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth import sessioncache
from telehealth.errors import (
    DomainError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
)
from telehealth.http.context import actor_or_none, client_address, form_body, now, see_other
from telehealth.http.errors import error_response, status_for
from telehealth.keys import CSRF_COOKIE, SESSION_CACHE, SESSION_COOKIE, SESSIONMAKER, SETTINGS
from telehealth.uow import unit_of_work
from telehealth.visits.joinlinks import join_session_still_valid

log = logging.getLogger("telehealth.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


def _route_name(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id, access log (ids and route templates only) and security headers."""
    # A request id the client chose is kept (logged and audited) only when it came through
    # the trusted proxy, which sets its own; otherwise anyone could write into the trail.
    incoming = request.headers.get("X-Request-ID", "") if request.app[SETTINGS].trust_proxy else ""
    request_id = (
        incoming
        if 8 <= len(incoming) <= 64 and incoming.isascii() and incoming.isprintable()
        else uuid.uuid4().hex
    )
    request["request_id"] = request_id
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
    except web.HTTPException as exc:
        status = exc.status
        _security_headers(request, exc)
        exc.headers["X-Request-ID"] = request_id
        raise
    finally:
        actor = actor_or_none(request)
        log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": request.method,
                "route": _route_name(request),
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": actor.user_id if actor else None,
            },
        )
    _security_headers(request, response)
    response.headers["X-Request-ID"] = request_id
    return response


def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:
        return
    settings = request.app[SETTINGS]
    h = response.headers
    h.setdefault("Content-Security-Policy", _content_security_policy(settings.base_url))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if settings.secure_cookies:
        h.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
    if request.path.startswith(("/api/", "/join/")) or "text/html" in h.get("Content-Type", ""):
        h.setdefault("Cache-Control", "no-store")


@functools.cache
def _content_security_policy(base_url: str) -> str:
    """The page may talk only to this platform: its own origin over HTTP ('self') and the
    same host's WebSocket for Socket.IO (ws: under http, wss: under https; older browsers
    do not count a WebSocket to the page's host as 'self')."""
    parts = urlsplit(base_url)
    socket_origin = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"media-src 'self' blob: mediastream:; connect-src 'self' {socket_origin}; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors to one JSON shape (API) or a page that leaks nothing."""
    try:
        return await handler(request)
    except DomainError as exc:
        if _is_api(request):
            return error_response(exc)
        if isinstance(exc, Unauthenticated):
            raise web.HTTPSeeOther(f"/login?next={request.path}") from None
        return _error_page(request, status_for(exc), exc.message)
    except web.HTTPException as exc:
        if exc.status >= 400 and exc.status != 405 and _is_api(request):
            code = "not_found" if exc.status == 404 else f"http_{exc.status}"
            message = "Not found." if exc.status == 404 else exc.reason
            return web.json_response(
                {"error": {"code": code, "message": message}}, status=exc.status
            )
        if exc.status == 404 and not _is_api(request):
            return _error_page(request, 404, "That page does not exist.")
        raise
    except Exception:
        log.exception("unhandled error", extra={"request_id": request.get("request_id")})
        if _is_api(request):
            return web.json_response(
                {
                    "error": {
                        "code": "server_error",
                        "message": "Something went wrong on our side. Try again; if it "
                        "keeps happening, tell the practice and quote "
                        f"request {request.get('request_id')}.",
                    }
                },
                status=500,
            )
        return _error_page(request, 500, "Something went wrong on our side. Try again.")


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    # Rendered from middleware, possibly before the template context processors ran.
    context = {
        "status": status,
        "message": message,
        "actor": actor_or_none(request),
        "settings": request.app[SETTINGS],
        "csrf_token": csrf_token(request),
    }
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


# Where an expired session must not get in the way: signing in again, joining, signing out,
# and the links a patient follows from an email or text (a link-only patient has no password
# to sign in with), by route template.
SIGN_IN_ROUTES = frozenset(
    {
        ("POST", "/api/session"),
        ("POST", "/login"),
        ("POST", "/api/join"),
        ("POST", "/logout"),
        ("GET", "/join/{token}"),
        ("GET", "/questionnaires/{token}"),
        ("POST", "/api/questionnaire-link"),
    }
)
NO_DB_PREFIXES = ("/static/", "/vendor/", "/healthz", "/socket.io")


@web.middleware
async def database(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One transaction per request: commit on success, roll back on error.

    Also resolves the session cookie into an actor, ending it after the idle time.
    """
    if request.path.startswith(NO_DB_PREFIXES) or request.path == "/readyz":
        return await handler(request)
    settings = request.app[SETTINGS]
    context = audit.AuditContext(
        source_address=client_address(request), request_id=request["request_id"]
    )
    async with unit_of_work(request.app[SESSIONMAKER], context) as session:
        request["db"] = session
        resolved = await sessioncache.resolve_session(
            request.app.get(SESSION_CACHE),
            session,
            token=request.cookies.get(SESSION_COOKIE),
            now=now(request),
            idle=timedelta(minutes=settings.idle_logoff_minutes),
            max_age=timedelta(hours=settings.session_max_hours),
            scope_check=join_session_still_valid,
        )
        if resolved.actor is not None:
            request["actor"] = resolved.actor
            request["user"] = resolved.user
            context.user_id = resolved.actor.user_id
            context.role = resolved.actor.role.value
        elif resolved.expired and (request.method, _route_name(request)) not in SIGN_IN_ROUTES:
            # Commit the logoff; tell the user why they are signed out.
            if resolved.reason == "visit_changed":
                code, message, page = (
                    "visit_changed",
                    "This visit was moved or cancelled. Open the link in your latest "
                    "invitation, or call the practice.",
                    "/login?visit_changed=1",
                )
            elif resolved.reason == "max_age":
                code, message, page = (
                    "session_expired",
                    f"You were signed out {settings.session_max_hours} hours after signing "
                    "in. Sign in again.",
                    "/login?expired=lifetime",
                )
            else:
                code, message, page = (
                    "session_expired",
                    f"You were signed out after {settings.idle_logoff_minutes} minutes of "
                    "inactivity. Sign in again.",
                    "/login?expired=1",
                )
            if _is_api(request):
                # `sign_in`: the page that says why (idle and lifetime share a code).
                response: web.StreamResponse = web.json_response(
                    {"error": {"code": code, "message": message, "sign_in": page}}, status=401
                )
            else:
                response = see_other(page)
            response.del_cookie(SESSION_COOKIE, path="/")
            return response
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                raise
            # A raised redirect is success: commit, then send it as a plain response.
            return web.Response(status=exc.status, headers=exc.headers)
        except PermissionDenied as exc:
            if exc.audited:
                raise
            actor = resolved.actor
            audit.record(
                session,
                Action.access_denied,
                "route",
                _route_name(request),
                outcome=Outcome.failure,
                durable=True,
                user_id=actor.user_id if actor else None,
            )
            raise


def _same_origin(request: web.Request) -> bool:
    """Refuse what the browser itself says comes from another site or a sibling subdomain.

    Under `Referrer-Policy: no-referrer` Chromium sends `Origin: null` on form posts, so
    the origin cannot always be judged: forms then rely on their token and JSON calls on
    the JSON content type (which a cross-site page cannot send without a CORS preflight).
    """
    # "same-site" is a sibling subdomain: it carries our Lax cookie, so it is refused too.
    if request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return True
    settings = request.app[SETTINGS]
    allowed = {f"{request.scheme}://{request.host}"}
    if settings.public_url:
        parts = urlsplit(settings.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    return origin in allowed


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Forms carry a token bound to a cookie; JSON calls must be JSON and same-origin."""
    if request.method in UNSAFE and not request.path.startswith("/socket.io"):
        if not _same_origin(request):
            raise PermissionDenied("Cross-site requests are refused.", code="csrf_failed")
        if _is_api(request):
            if request.body_exists and request.content_type != "application/json":
                raise InvalidInput(
                    "Send the request body as JSON (Content-Type: application/json).",
                    code="json_required",
                )
        else:
            form = await form_body(request)
            if any("\x00" in str(value) for value in form.values()):
                return _error_page(
                    request, 422, "Text may not contain NUL characters. Go back and retype it."
                )
            token = str(form.get("csrf_token", ""))
            expected = csrf_token(request)
            if not token or not hmac.compare_digest(token, expected):
                return _error_page(
                    request, 403, "This form has expired. Go back, reload the page and try again."
                )
    return await handler(request)


def csrf_token(request: web.Request) -> str:
    """The token a form must echo: an HMAC of the browser's CSRF cookie (set if missing)."""
    nonce = request.cookies.get(CSRF_COOKIE) or request.get("csrf_nonce")
    if not nonce:
        nonce = secrets.token_urlsafe(24)
        request["csrf_nonce"] = nonce
    key = request.app[SETTINGS].secret_key.encode()
    return hmac.new(key, f"csrf:{nonce}".encode(), "sha256").hexdigest()


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    """The session cookie (after a sign-in or an opened join link), with a new CSRF token."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=request.app[SETTINGS].secure_cookies,
    )
    renew_csrf_cookie(request, response)


def renew_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    """At sign-in: a new CSRF nonce, so a token someone saw (or planted) before the session
    began is worthless after it."""
    _set_csrf_cookie(request, response, secrets.token_urlsafe(24))


def _set_csrf_cookie(request: web.Request, response: web.StreamResponse, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=request.app[SETTINGS].secure_cookies,
    )


@web.middleware
async def csrf_cookie(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    nonce = request.get("csrf_nonce")
    if (
        nonce
        and not request.cookies.get(CSRF_COOKIE)
        and not response.prepared
        and CSRF_COOKIE not in response.cookies
    ):
        _set_csrf_cookie(request, response, nonce)
    return response
