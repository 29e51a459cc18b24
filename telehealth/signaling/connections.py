"""Realtime layer: the authenticated connections of a signaling server: the handshake (its
cookie, origin and address say who it is), and checking them again when their session or
their visit may have ended: before relaying, every few seconds (`rooms.RECHECK_INTERVAL`),
and at once when a committed change touched them (`Rechecks.now`, from `notices`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.addresses import client_address
from telehealth.auth import sessions as auth_sessions
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.errors import DomainError, NotFound, Unauthenticated
from telehealth.keys import SESSION_CACHE, SESSION_COOKIE
from telehealth.signaling.bus import Recheck
from telehealth.signaling.protocol import NAMESPACE
from telehealth.visits import lifecycle
from telehealth.visits.joinlinks import join_session_still_valid
from telehealth.visits.models import Visit

if TYPE_CHECKING:
    from telehealth.signaling.server import Signaling

log = logging.getLogger("telehealth.signaling")

SESSION_ENDED = "Your session has ended. Sign in again, then rejoin."


@dataclass
class Connection:
    """What the server knows about one authenticated socket (this process only)."""

    token: str
    user_id: int
    role: Role
    address: str | None
    visit_id: int | None = None
    seat_role: str | None = None
    # When the session and the joined visit were last found valid (server clock).
    checked_at: datetime | None = None


def cookie_token(environ: dict[str, Any]) -> str | None:
    try:
        jar = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_allowed(settings: Settings, origin: str | None, environ: dict[str, Any]) -> bool:
    """Whether a handshake from a browser at `origin` is accepted: the public URL's origin
    and the request's own (the cookie decides who it is)."""
    if origin is None:
        return True  # not a browser; the cookie still decides
    allowed = set()
    if settings.public_url:
        allowed.add(origin_of(settings.public_url))
    request = environ.get("aiohttp.request")
    if request is not None:
        allowed.add(f"{request.scheme}://{request.host}")
    return origin in allowed


def request_address(request: web.Request | None, settings: Settings) -> str | None:
    """The handshake's client address, by the same rule as an HTTP request's."""
    if request is None:
        return None
    forwarded = request.headers.get("X-Forwarded-For", "")
    return client_address(request.remote, forwarded, trust_proxy=settings.trust_proxy)


async def session_actor(
    session: AsyncSession, token: str, settings: Settings, now: datetime
) -> Actor | None:
    """Who is signed in with `token` (their activity counts: an idle session ends)."""
    resolved = await auth_sessions.resolve_session(
        session,
        scope_check=join_session_still_valid,
        token=token,
        now=now,
        idle=timedelta(minutes=settings.idle_logoff_minutes),
        max_age=timedelta(hours=settings.session_max_hours),
    )
    return resolved.actor


async def handshake(signaling: Signaling, sid: str, environ: dict[str, Any]) -> Connection:
    """Authenticate a new socket by its session cookie, or refuse it with a code the client
    acts on: `not_signed_in`, `forbidden`, or `unavailable` (try again shortly)."""
    # Behind a trusted proxy, the client's address rather than the proxy's (audit trail).
    address = request_address(environ.get("aiohttp.request"), signaling.settings)
    token = cookie_token(environ)
    actor = None
    if token:
        try:
            async with signaling.uow(None, sid, address) as session:
                actor = await session_actor(session, token, signaling.settings, signaling.now())
        except Exception:
            # A database that is busy or away must not leave the handshake hanging.
            log.exception("signaling connect failed", extra={"sid": sid})
            raise socketio.exceptions.ConnectionRefusedError(
                "The server is busy. Trying again…", {"code": "unavailable"}
            ) from None
    if actor is None or token is None:
        raise socketio.exceptions.ConnectionRefusedError(
            "Sign in, or open your visit link again, to connect.", {"code": "not_signed_in"}
        )
    if actor.role not in (Role.patient, Role.prescriber, Role.admin):
        # Administrators connect for their dashboard only (escalated safety alerts); a
        # call's join checks that the caller is its patient or prescriber.
        raise socketio.exceptions.ConnectionRefusedError(
            "Only a visit's patient and prescriber connect to calls.", {"code": "forbidden"}
        )
    return Connection(token, actor.user_id, actor.role, address)


class Rechecks:
    """Checking a server's connections again."""

    def __init__(self, signaling: Signaling) -> None:
        self.signaling = signaling

    async def now(self, recheck: Recheck) -> None:
        """Check again, at once, the connections a committed change touched: a cancelled,
        rescheduled or no-show visit, a signed-out session, a deactivated account.

        This process's connections first; with Redis, every other process of the deployment
        is told too (ids and a hash of the token only), and checks its own at once.
        """
        await self.here(recheck)
        if self.signaling.bus is not None:
            await self.signaling.bus.publish(recheck)

    async def here(self, recheck: Recheck) -> None:
        """This process's part of `now` (and what the bus asks of it)."""
        token_hash, user_id = recheck.token_hash, recheck.user_id
        if token_hash is not None or user_id is not None:
            self.signaling.app[SESSION_CACHE].drop(token_hash=token_hash, user_id=user_id)
        # Chosen before any is handled: ending a visit clears its connections' visit ids.
        targets = [
            (sid, conn)
            for sid, conn in list(self.signaling.connections.items())
            if (recheck.visit_id is not None and conn.visit_id == recheck.visit_id)
            or (token_hash is not None and auth_sessions.hash_token(conn.token) == token_hash)
            or (user_id is not None and conn.user_id == user_id)
        ]
        for sid, conn in targets:
            if sid not in self.signaling.connections:
                continue
            try:
                await self.check_again(sid, conn, event=None)
            except Exception:
                log.exception("signaling recheck failed", extra={"sid": sid})

    async def check_again(
        self, sid: str, conn: Connection, *, event: str | None
    ) -> dict[str, Any] | None:
        """Check again that the connection's session and visit still allow its call; end
        what they no longer allow and return the refusal, or None when all is well.

        A visit that closed (cancelled, marked no-show, finished, or out of its join window)
        ends its call for both participants: `visit_ended`, seats and rooms cleared. A
        session that ended (logout, idle logoff, a deactivated account) leaves its visit, is
        told why and is disconnected. While relaying (`event="signal"`), a closed visit
        refuses the signal and disconnects too; a connection checked because of a change
        elsewhere (`event=None`) stays connected while its session lasts (a prescriber keeps
        their dashboard).
        """
        now = self.signaling.now()
        joined = conn.visit_id
        resolved, visit = await self._session_and_visit(sid, conn, joined, now)
        refusal: DomainError | None = None
        # A closed visit first: cancelling also ends a join link's session, and both
        # participants should hear that the visit ended, not that someone signed out.
        if joined is not None and (visit is None or not lifecycle.call_open(visit, now)):
            if visit is not None:
                await self.signaling.notices.end_call(visit)
            else:
                await self.signaling.sio.emit(
                    "visit_ended", {"visit_id": joined}, to=sid, namespace=NAMESPACE
                )
            if event is not None:
                refusal = NotFound(lifecycle.NOT_JOINABLE, code="not_found")
        if refusal is None and resolved.actor is None:
            if conn.visit_id is not None:
                await self.signaling.vacate(sid, conn, kind="left", reason="session_ended")
            refusal = Unauthenticated(SESSION_ENDED)
        if refusal is None:
            conn.checked_at = now
            return None
        conn.checked_at = None
        ack = await self.signaling.refuse(sid, event or "session", refusal)
        self.signaling.disconnect_soon(sid)
        return ack

    async def _session_and_visit(
        self, sid: str, conn: Connection, visit_id: int | None, now: datetime
    ) -> tuple[auth_sessions.ResolvedSession, Visit | None]:
        """The connection's session as it stands (a check, not activity) and its visit."""
        async with self.signaling.uow(conn, sid) as session:
            resolved = await auth_sessions.resolve_session(
                session,
                scope_check=join_session_still_valid,
                token=conn.token,
                now=now,
                idle=timedelta(minutes=self.signaling.settings.idle_logoff_minutes),
                max_age=timedelta(hours=self.signaling.settings.session_max_hours),
                touch=False,
            )
            visit = await session.get(Visit, visit_id) if visit_id is not None else None
        return resolved, visit
