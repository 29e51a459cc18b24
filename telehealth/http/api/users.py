"""Web layer: JSON endpoints for accounts (administrators) and prescribers' cover."""

from __future__ import annotations

from aiohttp import web

from telehealth.auth import accounts, coverage
from telehealth.auth.models import Role, User
from telehealth.auth.policy import can_deactivate, ensure_role
from telehealth.http.context import db, now, path_id, require_actor
from telehealth.http.models.auth import (
    Coverage,
    CoverageAsk,
    CoverageList,
    Created,
    NewUser,
    UserChange,
    UserChanged,
    UserList,
    UserQuery,
    UserRow,
)
from telehealth.http.schema import api, parse_body, parse_query, respond
from telehealth.keys import THROTTLE

routes = web.RouteTableDef()


@routes.post("/api/users")
@api(
    body=NewUser,
    responses={201: ("Created", Created)},
    errors={409: "username_taken, npi_taken", 422: "invalid_input (with field)"},
)
async def create_user(request: web.Request) -> web.StreamResponse:
    """Create an account of any role (administrators)."""
    actor = require_actor(request)
    ensure_role(actor, Role.admin)
    body = await parse_body(request, NewUser)
    user = await accounts.create_user(
        db(request), actor=actor, account=body.account(), now=now(request)
    )
    assert user.id is not None
    return respond(Created(id=user.id), status=201)


@routes.get("/api/users")
@api(query=UserQuery, responses={200: ("Accounts, by role and username", UserList)})
async def list_users(request: web.Request) -> web.StreamResponse:
    """Every account, or those of one role (administrators)."""
    actor = require_actor(request)
    query = parse_query(request, UserQuery)
    users = await accounts.list_users(db(request), actor=actor, role=query.role)
    current = now(request)
    throttled = request.app[THROTTLE].locked_usernames(current)
    return respond(
        UserList(
            users=[
                UserRow(
                    id=u.id or 0,
                    username=u.username,
                    role=u.role.value,
                    full_name=u.full_name,
                    active=u.is_active,
                    locked=u.username in throttled
                    or (u.locked_until is not None and u.locked_until > current),
                    can_deactivate=u.is_active and can_deactivate(actor, u.id or 0),
                )
                for u in users
            ]
        )
    )


@routes.patch("/api/users/{id}")
@api(
    body=UserChange,
    responses={200: ("The account as it is now", UserChanged)},
    errors={409: "self_deactivation"},
)
async def change_user(request: web.Request) -> web.StreamResponse:
    """Deactivate, reactivate or unlock an account (administrators)."""
    actor = require_actor(request)
    body = await parse_body(request, UserChange)
    unlock = body.unlock is True
    user_id = path_id(request)
    throttled = False
    if unlock:
        ensure_role(actor, Role.admin)
        account = await db(request).get(User, user_id)
        throttled = account is not None and request.app[THROTTLE].unlock(account.username)
    user = await accounts.change_account(
        db(request),
        actor=actor,
        user_id=user_id,
        active=body.active,
        unlock=unlock,
        now=now(request),
        throttled=throttled,
    )
    assert user.id is not None
    return respond(
        UserChanged(id=user.id, username=user.username, role=user.role.value, active=user.is_active)
    )


@routes.post("/api/prescribers/{id}/coverage")
@api(body=CoverageAsk, responses={201: ("Recorded", Coverage)})
async def add_coverage(request: web.Request) -> web.StreamResponse:
    """Record that this prescriber covers for another (admin, or the prescriber covered)."""
    actor = require_actor(request)
    body = await parse_body(request, CoverageAsk)
    row = await coverage.record_coverage(
        db(request),
        actor=actor,
        covering_id=path_id(request),
        covered_id=body.covered_prescriber_id,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        now=now(request),
    )
    return respond(Coverage.of(row), status=201)


@routes.get("/api/prescribers/{id}/coverage")
@api(responses={200: ("Cover given or received, newest first", CoverageList)})
async def get_coverage(request: web.Request) -> web.StreamResponse:
    """Cover this prescriber gives or receives (admin, or that prescriber)."""
    actor = require_actor(request)
    rows = await coverage.list_coverage(db(request), actor=actor, prescriber_id=path_id(request))
    return respond(CoverageList(coverage=[Coverage.of(r) for r in rows]))
