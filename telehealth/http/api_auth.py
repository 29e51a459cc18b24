"""Web layer: JSON endpoints for sessions, users and the audit trail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from telehealth import audit
from telehealth.auth import coverage
from telehealth.auth import service as auth_service
from telehealth.auth.models import CoverageAssignment, Role, User
from telehealth.auth.passwords import PasswordPoolBusy, verify_password_in_pool
from telehealth.auth.policy import can_deactivate, ensure_role
from telehealth.auth.throttle import Refusal, Scope
from telehealth.errors import DomainError, InvalidInput
from telehealth.http.context import (
    client_address,
    db,
    int_param,
    json_body,
    now,
    path_id,
    require_actor,
    settings_of,
)
from telehealth.http.middleware import renew_csrf_cookie
from telehealth.http.models.auth import Me
from telehealth.http.schema import api, respond
from telehealth.keys import SESSION_COOKIE, THROTTLE
from telehealth.signaling.server import sessions_ended_after_commit
from telehealth.uow import commit_so_far

routes = web.RouteTableDef()


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "username": user.username, "role": user.role.value}


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        path="/",
        secure=settings_of(request).secure_cookies,
    )
    renew_csrf_cookie(request, response)


# A throttled sign-in answers after this pause: it costs the server nothing (no hash, no
# query) and slows a client that loops on it.
REFUSAL_PAUSE_SECONDS = 0.5
# An address the account signed in from this recently is not kept out by failures elsewhere.
KNOWN_ADDRESS_DAYS = 90
STATUS_BY_REFUSAL = {"locked_out": 429, "sign_in_busy": 503}


async def sign_in(request: web.Request, username: str, password: str) -> tuple[User, str]:
    """Shared by the JSON endpoint and the login form.

    The throttle answers first, with no password work; then the account is read and the
    transaction ended, so the Argon2 check (on the hashing threads, off the event loop)
    runs with no database lock held. A username that does not exist costs the same hash
    (against a dummy) and counts towards the same locks as one that does.
    """
    session = db(request)
    throttle = request.app[THROTTLE]
    when = now(request)
    address = client_address(request) or ""
    name = auth_service.normalise_username(username)
    attempt = throttle.begin(address, name, when)
    if (
        isinstance(attempt, Refusal)
        and attempt.scope is Scope.username
        and await auth_service.signed_in_from(
            session, username=name, address=address, since=when - timedelta(KNOWN_ADDRESS_DAYS)
        )
    ):
        attempt = throttle.begin(address, name, when, known_address=True)
    if isinstance(attempt, Refusal):
        if attempt.first:
            user = await auth_service.find_account(session, name)
            auth_service.record_failed_sign_in(session, user, reason="locked_out")
        await commit_so_far(session)  # no lock held through the pause
        await asyncio.sleep(REFUSAL_PAUSE_SECONDS)
        raise _locked_out(attempt.scope, attempt.until, when)
    try:
        user = await auth_service.find_account(session, name)
        await commit_so_far(session)
        ok = await verify_password_in_pool(user.password_hash if user else None, password)
    except PasswordPoolBusy:
        throttle.withdraw(attempt)
        raise LoginRefused(
            "Many people are signing in right now. Try again in a few seconds.",
            code="sign_in_busy",
        ) from None
    except BaseException:
        throttle.withdraw(attempt)
        raise
    if user is None or not ok or not user.is_active:
        lock = throttle.failed(attempt, when)
        auth_service.record_failed_sign_in(
            session, user, reason="bad_credentials", locked=lock is not None
        )
        if lock is not None:
            raise _locked_out(lock.scope, lock.until, when)
        raise LoginRefused("The username or password is not right.", code="invalid_credentials")
    throttle.succeeded(attempt)
    token = await auth_service.start_session(
        session, user=user, now=when, source_address=client_address(request)
    )
    return user, token


def _locked_out(scope: Scope, until: datetime, when: datetime) -> LoginRefused:
    minutes = max(1, round((until - when).total_seconds() / 60))
    if scope is Scope.address:
        message = f"Too many failed sign-ins from your network. Try again in {minutes} minutes."
    else:
        message = (
            f"This account is locked after too many failed sign-ins. Try again in {minutes} "
            "minutes, or ask an administrator to unlock it."
        )
    return LoginRefused(message, code="locked_out")


class LoginRefused(DomainError):
    """A refused sign-in. Its audit entry must be committed, so this is returned, not raised
    through the transaction."""


@routes.post("/api/session")
async def create_session(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidInput("username and password are required.")
    try:
        user, token = await sign_in(request, username, password)
    except LoginRefused as exc:
        status = STATUS_BY_REFUSAL.get(exc.code, 401)
        return web.json_response(
            {"error": {"code": exc.code, "message": exc.message}}, status=status
        )
    response = web.json_response({"user": user_json(user)})
    set_session_cookie(request, response, token)
    return response


@routes.delete("/api/session")
async def delete_session(request: web.Request) -> web.StreamResponse:
    require_actor(request)
    token = request.cookies[SESSION_COOKIE]
    await auth_service.end_session(db(request), token=token, now=now(request))
    sessions_ended_after_commit(request, token=token)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/me")
@api(responses={200: ("The caller", Me)})
async def me(request: web.Request) -> web.StreamResponse:
    """The signed-in user (and, for a join-link session, its visit)."""
    actor = require_actor(request)
    # The user the session lookup read (or held: sessioncache), else from the database.
    user = request.get("user") or await auth_service.get_user(db(request), actor.user_id)
    assert user.id is not None
    scope = {} if actor.visit_scope is None else {"visit_id": actor.visit_scope}
    me = Me(
        id=user.id, username=user.username, role=user.role.value, full_name=user.full_name, **scope
    )
    return respond(me, omit_unset=True)


@routes.post("/api/users")
async def create_user(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    ensure_role(actor, Role.admin)
    body = await json_body(request)
    user = await auth_service.create_user(db(request), actor=actor, data=body, now=now(request))
    return web.json_response({"id": user.id}, status=201)


@routes.get("/api/users")
async def list_users(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    role_name = request.query.get("role")
    try:
        role = Role(role_name) if role_name else None
    except ValueError:
        raise InvalidInput("role must be one of patient, prescriber, scheduler, admin.") from None
    users = await auth_service.list_users(db(request), actor=actor, role=role)
    current = now(request)
    throttled = request.app[THROTTLE].locked_usernames(current)
    return web.json_response(
        {
            "users": [
                {
                    **user_json(u),
                    "full_name": u.full_name,
                    "active": u.is_active,
                    "locked": u.username in throttled
                    or (u.locked_until is not None and u.locked_until > current),
                    "can_deactivate": u.is_active and can_deactivate(actor, u.id or 0),
                }
                for u in users
            ]
        }
    )


@routes.patch("/api/users/{id}")
async def change_user(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    body = await json_body(request)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise InvalidInput("active must be true or false.", field="active")
    unlock = body.get("unlock") is True
    user_id = path_id(request)
    throttled = False
    if unlock:
        ensure_role(actor, Role.admin)
        account = await db(request).get(User, user_id)
        throttled = account is not None and request.app[THROTTLE].unlock(account.username)
    user = await auth_service.change_account(
        db(request),
        actor=actor,
        user_id=user_id,
        active=active,
        unlock=unlock,
        now=now(request),
        throttled=throttled,
    )
    if not user.is_active:
        sessions_ended_after_commit(request, user_id=user.id)
    return web.json_response({**user_json(user), "active": user.is_active})


@routes.post("/api/prescribers/{id}/coverage")
async def add_coverage(request: web.Request) -> web.StreamResponse:
    """Record that this prescriber covers for another (admin, or the prescriber covered)."""
    actor = require_actor(request)
    row = await coverage.record_coverage(
        db(request),
        actor=actor,
        covering_id=path_id(request),
        data=await json_body(request),
        now=now(request),
    )
    return web.json_response(coverage_json(row), status=201)


@routes.get("/api/prescribers/{id}/coverage")
async def get_coverage(request: web.Request) -> web.StreamResponse:
    """Cover this prescriber gives or receives (admin, or that prescriber)."""
    actor = require_actor(request)
    rows = await coverage.list_coverage(db(request), actor=actor, prescriber_id=path_id(request))
    return web.json_response({"coverage": [coverage_json(r) for r in rows]})


def coverage_json(row: CoverageAssignment) -> dict[str, Any]:
    return {
        "id": row.id,
        "covering_prescriber_id": row.covering_prescriber_id,
        "covered_prescriber_id": row.covered_prescriber_id,
        "starts_on": row.starts_on.isoformat(),
        "ends_on": row.ends_on.isoformat(),
    }


def parse_when(
    value: str | None, name: str, *, check: Callable[[datetime], None] | None = None
) -> datetime | None:
    """An ISO 8601 date-time with offset, as UTC. One at the calendar's edge whose offset
    takes it outside years 1-9999 (0001-01-01T00:00+14:00) is refused, not carried on.
    `check` sees the value as written first (a narrower range, with its own message)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO 8601 date-time with offset.", field=name
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name} must include a UTC offset, such as Z or -05:00.", field=name)
    if check is not None:
        check(parsed)
    return within_calendar(parsed, name)


def within_calendar(when: datetime, name: str, *, plus: timedelta = timedelta(0)) -> datetime:
    """`when` (+ `plus`) in UTC, or a 422 naming the field when that leaves years 1-9999."""
    try:
        return when.astimezone(UTC) + plus
    except OverflowError:
        raise InvalidInput(
            f"{name} is outside the calendar. Use a date between 0001-01-02 and 9999-12-30.",
            field=name,
        ) from None


@routes.get("/api/audit")
async def audit_search(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    q = request.query
    entries = await audit.read_trail(
        db(request),
        actor=actor,
        patient_id=int_param(q.get("patient_id"), "patient_id", required=False),
        user_id=int_param(q.get("user_id"), "user_id", required=False),
        start=parse_when(q.get("start"), "start"),
        end=parse_when(q.get("end"), "end"),
    )
    return web.json_response({"entries": [audit.entry_fields(e) for e in entries]})
