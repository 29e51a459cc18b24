"""Web layer: JSON endpoints for signing in and out, and who the caller is."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from aiohttp import web

from telehealth.auth import accounts, sessions
from telehealth.auth.models import User
from telehealth.auth.passwords import PasswordPoolBusy, verify_password_in_pool
from telehealth.auth.throttle import Refusal, Scope
from telehealth.errors import Unauthenticated
from telehealth.http.context import client_address, db, now, require_actor
from telehealth.http.errors import status_for
from telehealth.http.middleware import set_session_cookie
from telehealth.http.models.auth import Me, SignedIn, SignIn, UserRef
from telehealth.http.schema import api, parse_body, respond
from telehealth.keys import SESSION_COOKIE, THROTTLE
from telehealth.uow import commit_so_far

routes = web.RouteTableDef()


# A throttled sign-in answers after this pause: it costs the server nothing (no hash, no
# query) and slows a client that loops on it.
REFUSAL_PAUSE_SECONDS = 0.5
# An address the account signed in from this recently is not kept out by failures elsewhere.
KNOWN_ADDRESS_DAYS = 90


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
    name = sessions.normalise_username(username)
    attempt = throttle.begin(address, name, when)
    if (
        isinstance(attempt, Refusal)
        and attempt.scope is Scope.username
        and await sessions.signed_in_from(
            session, username=name, address=address, since=when - timedelta(KNOWN_ADDRESS_DAYS)
        )
    ):
        attempt = throttle.begin(address, name, when, known_address=True)
    if isinstance(attempt, Refusal):
        if attempt.first:
            user = await sessions.find_account(session, name)
            sessions.record_failed_sign_in(session, user, reason="locked_out")
        await commit_so_far(session)  # no lock held through the pause
        await asyncio.sleep(REFUSAL_PAUSE_SECONDS)
        raise _locked_out(attempt.scope, attempt.until, when)
    try:
        user = await sessions.find_account(session, name)
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
        sessions.record_failed_sign_in(
            session, user, reason="bad_credentials", locked=lock is not None
        )
        if lock is not None:
            raise _locked_out(lock.scope, lock.until, when)
        raise LoginRefused("The username or password is not right.", code="invalid_credentials")
    throttle.succeeded(attempt)
    token = await sessions.start_session(
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


class LoginRefused(Unauthenticated):
    """A refused sign-in (401, or its code's status in http/errors.py). Its audit entry must
    be committed, so this is returned, not raised through the transaction."""


@routes.post("/api/session")
@api(
    body=SignIn,
    responses={200: ("Signed in; sets the session cookie", SignedIn)},
    errors={401: "invalid_credentials", 429: "locked_out", 503: "sign_in_busy"},
    public=True,
)
async def create_session(request: web.Request) -> web.StreamResponse:
    """Sign in with a username and password."""
    body = await parse_body(request, SignIn)
    try:
        user, token = await sign_in(request, body.username, body.password)
    except LoginRefused as exc:
        return web.json_response(
            {"error": {"code": exc.code, "message": exc.message}}, status=status_for(exc)
        )
    response = respond(SignedIn(user=UserRef.of(user)))
    set_session_cookie(request, response, token)
    return response


@routes.delete("/api/session")
@api(responses={204: ("Signed out", None)})
async def delete_session(request: web.Request) -> web.StreamResponse:
    """Sign out: the session ends here and on every socket it opened."""
    require_actor(request)
    token = request.cookies[SESSION_COOKIE]
    await sessions.end_session(db(request), token=token, now=now(request))
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/api/me")
@api(responses={200: ("The caller", Me)})
async def me(request: web.Request) -> web.StreamResponse:
    """The signed-in user (and, for a join-link session, its visit)."""
    actor = require_actor(request)
    # The user the session lookup read (or held: sessioncache), else from the database.
    user = request.get("user") or await accounts.get_user(db(request), actor.user_id)
    assert user.id is not None
    scope = {} if actor.visit_scope is None else {"visit_id": actor.visit_scope}
    me = Me(
        id=user.id, username=user.username, role=user.role.value, full_name=user.full_name, **scope
    )
    return respond(me, omit_unset=True)
