"""Realtime layer: the Socket.IO handlers. Signaling for video visits on namespace /visits.

The connection is authenticated by the session cookie; every event is parsed by `protocol`,
rate limited per connection, and handled in its own unit of work; what writes to a visit's
call history is budgeted per visit and account (`limits`), and a repeat that changes nothing
writes nothing. Rooms are named from authorised visit ids (`rooms`); the transport's own
adaptations (and malformed packets) are in `transport`. Events of one connection are handled
one after another (`async_handlers=False`), so an offer is never overtaken by the candidate
sent after it. With `TELEHEALTH_REDIS_URL` set, several processes share rooms and seats
through Redis. Relaying a signal does not touch the database, so at most every few seconds
per connection (`rooms.RECHECK_INTERVAL`) the relay checks again that the session is signed
in and the visit still open, and ends the connection's call when either is over. The
protocol is documented in docs/signaling.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie
from typing import Any, Protocol
from urllib.parse import urlsplit

import socketio
from aiohttp import WSCloseCode, web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.auth import sessions as auth_sessions
from telehealth.auth.models import Role, User
from telehealth.auth.policy import Actor
from telehealth.config import Settings
from telehealth.errors import DomainError, NotFound, PermissionDenied, RateLimited, Unauthenticated
from telehealth.http.context import client_address
from telehealth.http.sessioncache import SessionCache
from telehealth.keys import CLOCK, SESSION_CACHE, SESSION_COOKIE, SESSIONMAKER, SETTINGS, SIGNALING
from telehealth.measures import alerts
from telehealth.measures.models import AlertStatus, SafetyAlert
from telehealth.signaling import protocol
from telehealth.signaling.limits import LocalWriteBudget, RedisWriteBudget, WriteBudget
from telehealth.signaling.protocol import error_ack, other_role
from telehealth.signaling.rooms import (
    RateLimiter,
    Seat,
    Seats,
    admin_alerts_room,
    dashboard_room,
    joined_check_time,
    recheck_due,
    seat_room,
    visit_room,
)
from telehealth.signaling.transport import TransportServer
from telehealth.signaling.turn import ice_config_for
from telehealth.uow import unit_of_work
from telehealth.visits import lifecycle, quality, states
from telehealth.visits.joinlinks import join_session_still_valid
from telehealth.visits.models import Visit, VisitStatus

log = logging.getLogger("telehealth.signaling")

NAMESPACE = "/visits"
# Largest engine.io packet accepted; bigger ones close the connection at the transport.
# Signals are refused politely up to this size (SDP itself is capped at 64 KiB).
MAX_PACKET_BYTES = 256 * 1024
SEAT_TTL_SECONDS = 12 * 3600
_AFTER_COMMIT = "signaling_after_commit"


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


class SeatStore(Protocol):
    async def claim(self, seat: Seat, sid: str) -> str | None: ...
    async def release(self, seat: Seat, sid: str) -> bool: ...
    async def holder(self, seat: Seat) -> str | None: ...
    async def clear_visit(self, visit_id: int) -> None: ...
    async def close(self) -> None: ...


class LocalSeats:
    """Seats for a single process."""

    def __init__(self) -> None:
        self._seats = Seats()

    async def claim(self, seat: Seat, sid: str) -> str | None:
        return self._seats.claim(seat, sid)

    async def release(self, seat: Seat, sid: str) -> bool:
        return self._seats.release(seat, sid)

    async def holder(self, seat: Seat) -> str | None:
        return self._seats.holder(seat)

    async def clear_visit(self, visit_id: int) -> None:
        self._seats.clear_visit(visit_id)

    async def close(self) -> None:
        return None


_RELEASE_IF_HOLDER = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end"
)


class RedisSeats:
    """Seats shared by every process of a deployment (keys expire after a day's use)."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, decode_responses=True)
        self._prefix = prefix

    def _key(self, seat: Seat) -> str:
        return f"{self._prefix}:seat:{seat.visit_id}:{seat.role}"

    async def claim(self, seat: Seat, sid: str) -> str | None:
        previous = await self._redis.set(self._key(seat), sid, ex=SEAT_TTL_SECONDS, get=True)
        return str(previous) if previous and previous != sid else None

    async def release(self, seat: Seat, sid: str) -> bool:
        released = await self._redis.eval(_RELEASE_IF_HOLDER, 1, self._key(seat), sid)
        return bool(released)

    async def holder(self, seat: Seat) -> str | None:
        value = await self._redis.get(self._key(seat))
        return str(value) if value else None

    async def clear_visit(self, visit_id: int) -> None:
        await self._redis.delete(*(self._key(Seat(visit_id, r)) for r in protocol.ROLES))

    async def close(self) -> None:
        await self._redis.aclose()


class RecheckBus:
    """Tells the other processes of a deployment to check some connections again at once
    (a signed-out session, a deactivated account, a closed visit). Carries ids and a hash of
    the session token, never the token itself."""

    def __init__(self, url: str, channel: str) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(url, decode_responses=True)
        self._channel = channel
        self.origin = secrets.token_hex(8)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def publish(self, message: dict[str, Any]) -> None:
        await self._redis.publish(self._channel, json.dumps({**message, "origin": self.origin}))

    def start(self, handler: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        async def listen() -> None:
            pause = 1.0
            while True:
                try:
                    async with self._redis.pubsub() as pubsub:
                        await pubsub.subscribe(self._channel)
                        self.subscribed.set()
                        pause = 1.0
                        async for message in pubsub.listen():
                            data = _bus_message(message, self.origin)
                            if data is not None:
                                await handler(data)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.subscribed.clear()
                    log.exception("signaling recheck bus lost; subscribing again")
                    # Redis away: try again, less often the longer it stays away.
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 30.0)

        self._task = asyncio.create_task(listen())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        await self._redis.aclose()


def _bus_message(message: Any, own_origin: str) -> dict[str, Any] | None:
    """A recheck request from another process, or None (our own, or not one)."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return None
    try:
        data = json.loads(message.get("data") or "")
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("origin") == own_origin:
        return None
    return data


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _cookie_token(environ: dict[str, Any]) -> str | None:
    try:
        jar = SimpleCookie(environ.get("HTTP_COOKIE", ""))
    except CookieError:
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


Handler = Callable[[str, Connection, Any], Awaitable[dict[str, Any]]]


class Signaling:
    """The socket.io server of one app, with its connections, seats and rate limits."""

    def __init__(self, app: web.Application) -> None:
        settings: Settings = app[SETTINGS]
        self.app = app
        self.settings = settings
        deployment = hashlib.sha256(settings.sqlalchemy_url.encode()).hexdigest()[:12]
        manager: socketio.AsyncManager | None = None
        self.seats: SeatStore
        if settings.redis_url:
            manager = socketio.AsyncRedisManager(
                settings.redis_url, channel=f"telehealth-{deployment}"
            )
            self.seats = RedisSeats(settings.redis_url, f"telehealth:{deployment}")
            self.bus: RecheckBus | None = RecheckBus(
                settings.redis_url, f"telehealth-{deployment}-recheck"
            )
            self.write_budget: WriteBudget = RedisWriteBudget(
                settings.redis_url, f"telehealth:{deployment}", settings.signaling_writes_per_minute
            )
        else:
            self.seats = LocalSeats()
            self.bus = None
            self.write_budget = LocalWriteBudget(settings.signaling_writes_per_minute)
        self.sio = TransportServer(
            async_mode="aiohttp",
            client_manager=manager,
            # One connection's events run in order: a candidate never overtakes its offer.
            async_handlers=False,
            cors_allowed_origins=self._origin_allowed,
            cors_credentials=True,
            max_http_buffer_size=MAX_PACKET_BYTES,
            http_compression=False,
            ping_interval=20,
            ping_timeout=20,
            logger=False,
            engineio_logger=False,
        )
        self.sio.attach(app, socketio_path="socket.io")
        self.connections: dict[str, Connection] = {}
        self.limiter = RateLimiter()
        self.closing = False
        self._pending: set[asyncio.Task[None]] = set()
        self.sio.on("connect", self._connect, namespace=NAMESPACE)
        self.sio.on("disconnect", self._disconnect, namespace=NAMESPACE)
        self.sio.on("*", self._unknown, namespace=NAMESPACE)
        handlers: dict[str, Handler] = {
            "join": self._join,
            "leave": self._leave,
            "admit": self._admit,
            "signal": self._signal,
            "media_state": self._media_state,
            "call_quality": self._call_quality,
            "end": self._end,
            "watch_dashboard": self._watch_dashboard,
        }
        assert set(handlers) == protocol.CLIENT_EVENTS
        for name, handler in handlers.items():
            self.sio.on(name, self._guarded(name, handler), namespace=NAMESPACE)

    # -- plumbing ------------------------------------------------------------------------

    def now(self) -> datetime:
        value: datetime = self.app[CLOCK]()
        return value

    def _origin_allowed(self, origin: str | None, environ: dict[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser; the cookie still decides
        allowed = set()
        if self.settings.public_url:
            allowed.add(_origin(self.settings.public_url))
        request = environ.get("aiohttp.request")
        if request is not None:
            allowed.add(f"{request.scheme}://{request.host}")
        return origin in allowed

    @asynccontextmanager
    async def _uow(
        self, conn: Connection | None, sid: str, address: str | None = None
    ) -> AsyncIterator[AsyncSession]:
        context = audit.AuditContext(
            user_id=conn.user_id if conn else None,
            role=conn.role.value if conn else None,
            source_address=conn.address if conn else address,
            request_id=f"sio:{sid}"[:64],
        )
        sessionmaker: async_sessionmaker[AsyncSession] = self.app[SESSIONMAKER]
        async with unit_of_work(sessionmaker, context) as session:
            yield session

    async def _actor(self, session: AsyncSession, token: str) -> Actor | None:
        resolved = await auth_sessions.resolve_session(
            session,
            scope_check=join_session_still_valid,
            token=token,
            now=self.now(),
            idle=timedelta(minutes=self.settings.idle_logoff_minutes),
            max_age=timedelta(hours=self.settings.session_max_hours),
        )
        return resolved.actor

    async def _require_actor(self, session: AsyncSession, conn: Connection) -> Actor:
        actor = await self._actor(session, conn.token)
        if actor is None:
            raise Unauthenticated("Your session has ended. Sign in again, then rejoin.")
        return actor

    async def _refuse(self, sid: str, event: str, error: DomainError) -> dict[str, Any]:
        ack = error_ack(error.code, error.message)
        await self.sio.emit("error", {"event": event, **ack}, to=sid, namespace=NAMESPACE)
        return ack

    def _guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def run(sid: str, *args: Any) -> dict[str, Any]:
            conn = self.connections.get(sid)
            if conn is None:
                return await self._refuse(sid, name, Unauthenticated())
            if not self.limiter.allow(sid, time.monotonic()):
                return await self._refuse(
                    sid,
                    name,
                    RateLimited("Too many messages. Slow down and try again in a moment."),
                )
            try:
                return await handler(sid, conn, protocol.first_argument(args))
            except DomainError as exc:
                return await self._refuse(sid, name, exc)
            except Exception:
                if sid not in self.connections:
                    # The client went away mid-event (socket.io raises on its rooms): no fault.
                    return error_ack("not_connected", "The connection closed. Reconnect.")
                log.exception("signaling event failed", extra={"event": name, "sid": sid})
                return await self._refuse(
                    sid,
                    name,
                    DomainError(
                        "Something went wrong on our side. Try again.", code="server_error"
                    ),
                )

        return run

    async def _unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        if not self.limiter.allow(sid, time.monotonic()):
            return error_ack("rate_limited", "Too many messages. Slow down and try again.")
        return await self._refuse(
            sid,
            str(event)[:64],
            DomainError("That event is not part of the visits protocol.", code="unknown_event"),
        )

    # -- connection ----------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        request = environ.get("aiohttp.request")
        # Behind a trusted proxy, the client's address rather than the proxy's (audit trail).
        address = client_address(request) if request is not None else None
        token = _cookie_token(environ)
        actor = None
        if token:
            try:
                async with self._uow(None, sid, address) as session:
                    actor = await self._actor(session, token)
            except Exception:
                # A database that is busy or away must not leave the handshake hanging:
                # refuse with a code the client treats as "try again shortly".
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
        self.connections[sid] = Connection(token, actor.user_id, actor.role, address)
        log.info("signaling connected", extra={"sid": sid, "user_id": actor.user_id})

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        self.limiter.forget(sid)
        if conn is None or conn.visit_id is None or conn.seat_role is None or self.closing:
            return
        log.info("signaling disconnected", extra={"sid": sid, "user_id": conn.user_id})
        try:
            # socket.io's reasons: "client disconnect", "transport close", "ping timeout", ...
            code = str(reason or "disconnected").replace(" ", "_")
            await self._vacate(sid, conn, kind="left", reason=code)
        except Exception:
            log.exception("recording a disconnect failed", extra={"sid": sid})

    async def _vacate(self, sid: str, conn: Connection, *, kind: str, reason: str) -> None:
        """The connection leaves its visit: free its seat and tell the other participant."""
        visit_id, role = conn.visit_id, conn.seat_role
        assert visit_id is not None and role is not None
        conn.visit_id = conn.seat_role = None
        await self.sio.leave_room(sid, visit_room(visit_id), namespace=NAMESPACE)
        await self.sio.leave_room(sid, seat_room(visit_id, role), namespace=NAMESPACE)
        if not await self.seats.release(Seat(visit_id, role), sid):
            return  # another tab took the seat: it is not a departure
        async with self._uow(conn, sid) as session:
            visit = await lifecycle.note_call_event(
                session,
                visit_id=visit_id,
                kind=kind,
                role=role,
                actor_id=conn.user_id,
                now=self.now(),
                detail={"reason": reason[:40]},
            )
        await self.sio.emit(
            "peer_left", {"role": role}, room=visit_room(visit_id), namespace=NAMESPACE
        )
        if visit is not None:
            await self._dashboard_status(visit)

    # -- events --------------------------------------------------------------------------

    async def _spend_write(self, conn: Connection, visit_id: int) -> None:
        """Count a write to the visit's call history against this account's budget for the
        visit (all its connections together); refuse the event when it is spent."""
        if not await self.write_budget.spend(visit_id, conn.user_id):
            raise RateLimited(
                "Too many changes to this visit's call in a short time. "
                "Wait a minute, then reload the page."
            )

    async def _join(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        if (
            conn.visit_id == visit_id
            and conn.seat_role is not None
            and await self.seats.holder(Seat(visit_id, conn.seat_role)) == sid
        ):
            return await self._join_again(sid, conn, visit_id)
        await self._spend_write(conn, visit_id)
        now = self.now()
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit, role = await lifecycle.authorize_join(
                session, actor=actor, visit_id=visit_id, now=now
            )
            seat = Seat(visit_id, role)
            previous = await self.seats.holder(seat)
            await lifecycle.record_join(
                session,
                visit=visit,
                role=role,
                actor_id=actor.user_id,
                now=now,
                replaced_other_tab=previous is not None and previous != sid,
            )
        if conn.visit_id is not None and conn.visit_id != visit_id:
            await self._vacate(sid, conn, kind="left", reason="joined_other_visit")
        previous = await self.seats.claim(seat, sid)
        if previous is not None:
            await self.sio.emit(
                "replaced", {"visit_id": visit_id}, to=previous, namespace=NAMESPACE
            )
            await self.sio.disconnect(previous, namespace=NAMESPACE)
        await self.sio.enter_room(sid, visit_room(visit_id), namespace=NAMESPACE)
        await self.sio.enter_room(sid, seat_room(visit_id, role), namespace=NAMESPACE)
        conn.visit_id, conn.seat_role = visit_id, role
        # The join just checked the session and the visit; spread the next checks out.
        conn.checked_at = joined_check_time(now)
        await self.sio.emit(
            "peer_joined",
            {"role": role},
            room=visit_room(visit_id),
            skip_sid=sid,
            namespace=NAMESPACE,
        )
        if await self.seats.holder(Seat(visit_id, other_role(role))) is not None:
            await self.sio.emit(
                "peer_joined", {"role": other_role(role)}, to=sid, namespace=NAMESPACE
            )
        if visit.admitted_at is not None and visit.status in states.IN_CALL:
            # A rejoin after a reload, lost network or server restart: start again.
            await self._send_admitted(visit, roles=(role,))
        elif role == "patient" and visit.status is VisitStatus.waiting:
            await self._notify_waiting(visit_id)
        return {"ok": True, "role": role, "status": visit.status.value}

    async def _join_again(self, sid: str, conn: Connection, visit_id: int) -> dict[str, Any]:
        """A join from the connection that holds the seat already: checked, answered, and
        neither recorded nor announced again (nothing changed)."""
        now = self.now()
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit, role = await lifecycle.authorize_join(
                session, actor=actor, visit_id=visit_id, now=now
            )
        conn.checked_at = now
        return {"ok": True, "role": role, "status": visit.status.value}

    async def _leave(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        if conn.visit_id != visit_id:
            raise NotFound(lifecycle.NOT_JOINABLE)
        await self._vacate(sid, conn, kind="left", reason="hung_up")
        return {"ok": True}

    async def _admit(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit = await lifecycle.admit(session, actor=actor, visit_id=visit_id, now=self.now())
        await self._after_admit(visit)
        return {"ok": True, "status": visit.status.value}

    async def _signal(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        signal = protocol.parse_signal(payload)
        if conn.visit_id != signal.visit_id or conn.seat_role is None:
            raise NotFound("Join the visit before sending signals.", code="not_joined")
        if recheck_due(conn.checked_at, self.now()):
            refusal = await self._recheck(sid, conn)
            if refusal is not None:
                return refusal
        await self.sio.emit(
            "signal",
            signal.wire(conn.seat_role),
            room=seat_room(signal.visit_id, other_role(conn.seat_role)),
            namespace=NAMESPACE,
        )
        return {"ok": True}

    async def _recheck(self, sid: str, conn: Connection) -> dict[str, Any] | None:
        """Check again that the connection's session and visit allow a call; if not, end the
        connection's call, disconnect it (after the refusal is sent) and return the refusal.

        A session ends by logout, idle logoff or a deactivated account; a visit by being
        cancelled, marked no-show, finished, or moved out of its join window.
        """
        visit_id = conn.visit_id
        assert visit_id is not None
        now = self.now()
        resolved, visit = await self._session_and_visit(sid, conn, visit_id, now)
        # A closed visit first: cancelling also ends a join link's session, and both
        # participants should hear that the visit ended, not that someone signed out.
        if visit is None or not _call_open(visit, now):
            if visit is not None:
                # Ends the call for both participants (visit_ended, seats and rooms cleared).
                await self._after_finish(visit)
            else:
                await self.sio.emit(
                    "visit_ended", {"visit_id": visit_id}, to=sid, namespace=NAMESPACE
                )
            ack = await self._refuse(
                sid, "signal", NotFound(lifecycle.NOT_JOINABLE, code="not_found")
            )
        elif resolved.actor is None:
            await self._vacate(sid, conn, kind="left", reason="session_ended")
            ack = await self._refuse(
                sid,
                "signal",
                Unauthenticated("Your session has ended. Sign in again, then rejoin."),
            )
        else:
            conn.checked_at = now
            return None
        conn.checked_at = None
        self._disconnect_soon(sid)
        return ack

    async def _session_and_visit(
        self, sid: str, conn: Connection, visit_id: int | None, now: datetime
    ) -> tuple[auth_sessions.ResolvedSession, Visit | None]:
        """The connection's session as it stands (a check, not activity) and its visit."""
        async with self._uow(conn, sid) as session:
            resolved = await auth_sessions.resolve_session(
                session,
                scope_check=join_session_still_valid,
                token=conn.token,
                now=now,
                idle=timedelta(minutes=self.settings.idle_logoff_minutes),
                max_age=timedelta(hours=self.settings.session_max_hours),
                touch=False,
            )
            visit = await session.get(Visit, visit_id) if visit_id is not None else None
        return resolved, visit

    def _disconnect_soon(self, sid: str) -> None:
        """Disconnect once the current event's ack has gone out (it is queued when the handler
        returns, before this task first runs)."""

        async def later() -> None:
            await asyncio.sleep(0)
            await self.sio.disconnect(sid, namespace=NAMESPACE)

        task = asyncio.create_task(later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _media_state(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        state = protocol.parse_media_state(payload)
        if conn.visit_id != state.visit_id:
            raise NotFound("Join the visit before reporting media.", code="not_joined")
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            before = await session.get(Visit, state.visit_id)
            was = before.status if before is not None else None
            if conn.seat_role is not None and await lifecycle.media_report_changes(
                session, visit_id=state.visit_id, role=conn.seat_role, connected=state.connected
            ):
                await self._spend_write(conn, state.visit_id)
            visit = await lifecycle.report_media(
                session,
                actor=actor,
                visit_id=state.visit_id,
                connected=state.connected,
                now=self.now(),
            )
        if visit.status is not was:
            await self._status_changed(visit)
        return {"ok": True, "status": visit.status.value}

    async def _call_quality(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        report = protocol.parse_call_quality(payload)
        if conn.visit_id != report.visit_id:
            raise NotFound("Join the visit before reporting its quality.", code="not_joined")
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            await quality.record_call_quality(
                session, actor=actor, visit_id=report.visit_id, sample=report.sample, now=self.now()
            )
        return {"ok": True}

    async def _end(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit = await lifecycle.complete_visit(
                session, actor=actor, visit_id=visit_id, now=self.now()
            )
        await self._after_finish(visit)
        return {"ok": True, "status": visit.status.value}

    async def _watch_dashboard(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        if payload is not None and not isinstance(payload, dict):
            raise protocol.ProtocolError("Send an empty object with watch_dashboard.")
        async with self._uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            if actor.visit_scope is not None or actor.role not in (Role.prescriber, Role.admin):
                raise PermissionDenied("Only prescribers and administrators have a dashboard.")
            if actor.role is Role.admin:
                waiting = []
            else:
                waiting = await lifecycle.waiting_for(session, actor=actor)
        if actor.role is Role.admin:
            # Administrators hear of safety alerts escalated to them; they have no waiting room.
            await self.sio.enter_room(sid, admin_alerts_room(), namespace=NAMESPACE)
            return {"ok": True, "waiting": []}
        await self.sio.enter_room(sid, dashboard_room(actor.user_id), namespace=NAMESPACE)
        entries = [_waiting_wire(w) for w in waiting]
        for entry in entries:
            await self.sio.emit("waiting_room", entry, to=sid, namespace=NAMESPACE)
        return {"ok": True, "waiting": entries}

    # -- notices -------------------------------------------------------------------------

    async def _send_admitted(self, visit: Visit, *, roles: tuple[str, ...]) -> None:
        assert visit.id is not None
        for role in roles:
            user_id = visit.patient_id if role == "patient" else visit.prescriber_id
            ice = ice_config_for(self.settings, user_id=user_id, now=self.now())
            await self.sio.emit(
                "admitted",
                {
                    "visit_id": visit.id,
                    "ice_servers": ice.servers,
                    "ice_transport_policy": ice.transport_policy,
                    "polite": role == "patient",
                },
                room=seat_room(visit.id, role),
                namespace=NAMESPACE,
            )

    async def _notify_waiting(self, visit_id: int) -> None:
        async with self._uow(None, "notify") as session:
            entry = await lifecycle.waiting_entry(session, visit_id)
            visit = await session.get(Visit, visit_id)
            if entry is not None and visit is not None:
                # The patient's name goes to the prescriber's screens: a disclosure to audit.
                audit.record(
                    session,
                    audit.Action.read,
                    "waiting_room",
                    visit_id,
                    patient_id=visit.patient_id,
                    user_id=visit.prescriber_id,
                    role=Role.prescriber.value,
                    detail={"visit_id": visit_id, "event": "waiting_room"},
                )
        if entry is None or visit is None:
            return
        data = _waiting_wire(entry)
        await self.sio.emit(
            "waiting_room", data, room=seat_room(visit_id, "prescriber"), namespace=NAMESPACE
        )
        await self.sio.emit(
            "waiting_room", data, room=dashboard_room(visit.prescriber_id), namespace=NAMESPACE
        )

    async def safety_alert(self, alert_id: int, *, escalated: bool = False) -> None:
        """Push a safety alert to its prescriber's screens (dashboard and call page), and, once
        escalated, to every administrator's. Reaching a screen is audited as shown."""
        async with self._uow(None, "notify") as session:
            alert = await session.get(SafetyAlert, alert_id)
            patient = await session.get(User, alert.patient_id) if alert else None
            if alert is None or patient is None or alert.status is not AlertStatus.open:
                return
            alerts.mark_shown(
                session,
                alert,
                where="admin_dashboard" if escalated else "prescriber_dashboard",
                user_id=None if escalated else alert.prescriber_id,
                role=Role.admin.value if escalated else Role.prescriber.value,
            )
        data = {
            "alert_id": alert.id,
            "patient_name": patient.full_name,
            "patient_id": alert.patient_id,
            "visit_id": alert.visit_id,
            "kind": alert.kind.value,
            "created_at": alert.created_at.isoformat(),
            "escalated": alert.escalated_at is not None,
        }
        await self.sio.emit(
            "safety_alert", data, room=dashboard_room(alert.prescriber_id), namespace=NAMESPACE
        )
        if escalated:
            await self.sio.emit("safety_alert", data, room=admin_alerts_room(), namespace=NAMESPACE)

    async def _status_changed(self, visit: Visit) -> None:
        assert visit.id is not None
        await self.sio.emit(
            "visit_status",
            {"visit_id": visit.id, "status": visit.status.value},
            room=visit_room(visit.id),
            namespace=NAMESPACE,
        )
        await self._dashboard_status(visit)

    async def _dashboard_status(self, visit: Visit) -> None:
        assert visit.id is not None
        patient_here = await self.seats.holder(Seat(visit.id, "patient")) is not None
        await self.sio.emit(
            "visit_status",
            {
                "visit_id": visit.id,
                "status": visit.status.value,
                "admitted": visit.admitted_at is not None,
                "patient_connected": patient_here,
            },
            room=dashboard_room(visit.prescriber_id),
            namespace=NAMESPACE,
        )

    async def _after_admit(self, visit: Visit) -> None:
        await self._send_admitted(visit, roles=protocol.ROLES)
        await self._dashboard_status(visit)

    async def _after_finish(self, visit: Visit) -> None:
        assert visit.id is not None
        await self.sio.emit(
            "visit_ended", {"visit_id": visit.id}, room=visit_room(visit.id), namespace=NAMESPACE
        )
        await self._dashboard_status(visit)
        await self.seats.clear_visit(visit.id)
        for conn in self.connections.values():
            if conn.visit_id == visit.id:
                conn.visit_id = conn.seat_role = None
        for room in (visit_room(visit.id), *(seat_room(visit.id, r) for r in protocol.ROLES)):
            await self.sio.close_room(room, namespace=NAMESPACE)

    async def visit_changed(self, kind: str, visit_id: int) -> None:
        """Tell the room about a change an HTTP request committed (see `after_commit`)."""
        async with self._uow(None, "notify") as session:
            visit = await session.get(Visit, visit_id)
        if visit is None:
            return
        if kind == "checked_in":
            await self._notify_waiting(visit_id)
            await self._dashboard_status(visit)
        elif kind == "admitted":
            await self._after_admit(visit)
        elif kind == "finished":
            await self._after_finish(visit)
        elif kind == "changed":
            # Cancelled, rescheduled or marked no-show: calls on it end now if they must.
            await self.recheck_now(visit_id=visit_id)
            await self._dashboard_status(visit)

    async def recheck_now(
        self,
        *,
        visit_id: int | None = None,
        token: str | None = None,
        user_id: int | None = None,
    ) -> None:
        """Check again, at once, the connections a committed change touched: a cancelled,
        rescheduled or no-show visit, a signed-out session, a deactivated account.

        This process's connections first; with Redis, every other process of the deployment
        is told too (ids and a hash of the token only), and checks its own at once.
        """
        token_hash = auth_sessions.hash_token(token) if token else None
        await self._recheck_local(visit_id=visit_id, token_hash=token_hash, user_id=user_id)
        if self.bus is not None:
            await self.bus.publish(
                {"visit_id": visit_id, "token_hash": token_hash, "user_id": user_id}
            )

    async def _on_bus(self, data: dict[str, Any]) -> None:
        token_hash = data.get("token_hash")
        await self._recheck_local(
            visit_id=_int_or_none(data.get("visit_id")),
            token_hash=token_hash if isinstance(token_hash, str) else None,
            user_id=_int_or_none(data.get("user_id")),
        )

    async def _recheck_local(
        self, *, visit_id: int | None, token_hash: str | None, user_id: int | None
    ) -> None:
        if token_hash is not None or user_id is not None:
            self.app[SESSION_CACHE].drop(token_hash=token_hash, user_id=user_id)
        # Chosen before any is handled: ending a visit clears its connections' visit ids.
        targets = [
            (sid, conn)
            for sid, conn in list(self.connections.items())
            if (visit_id is not None and conn.visit_id == visit_id)
            or (token_hash is not None and auth_sessions.hash_token(conn.token) == token_hash)
            or (user_id is not None and conn.user_id == user_id)
        ]
        for sid, conn in targets:
            if sid not in self.connections:
                continue
            try:
                await self._recheck_one(sid, conn)
            except Exception:
                log.exception("signaling recheck failed", extra={"sid": sid})

    async def _recheck_one(self, sid: str, conn: Connection) -> None:
        """End the call of a connection whose visit closed (for both participants), and drop
        a connection whose session ended. A signed-in prescriber stays connected."""
        now = self.now()
        joined = conn.visit_id
        resolved, visit = await self._session_and_visit(sid, conn, joined, now)
        if joined is not None and (visit is None or not _call_open(visit, now)):
            if visit is not None:
                await self._after_finish(visit)  # visit_ended to both; seats and rooms cleared
            else:
                await self.sio.emit(
                    "visit_ended", {"visit_id": joined}, to=sid, namespace=NAMESPACE
                )
        if resolved.actor is not None:
            return
        if conn.visit_id is not None:
            await self._vacate(sid, conn, kind="left", reason="session_ended")
        await self._refuse(
            sid, "session", Unauthenticated("Your session has ended. Sign in again, then rejoin.")
        )
        self._disconnect_soon(sid)

    # -- lifecycle of the server ---------------------------------------------------------

    async def close(self) -> None:
        """On shutdown: drop every socket without a goodbye, so clients reconnect to the next
        server, and record nothing (a restart is not the participants leaving)."""
        self.closing = True
        for task in list(self._pending):
            task.cancel()
        live: set[web.WebSocketResponse] = self.sio.eio.telehealth_websockets
        # 1012 "service restart": the client reconnects (a socket.io DISCONNECT would not).
        await asyncio.gather(
            *(ws.close(code=WSCloseCode.SERVICE_RESTART) for ws in list(live)),
            return_exceptions=True,
        )
        for socket in list(self.sio.eio.sockets.values()):
            # Polling clients: end their sessions without a goodbye packet.
            with contextlib.suppress(Exception):
                await socket.close(wait=False, abort=True)
        await self.sio.shutdown()
        await self.seats.close()
        await self.write_budget.close()
        if self.bus is not None:
            await self.bus.close()
        listener = getattr(self.sio.manager, "thread", None)
        if isinstance(listener, asyncio.Task):
            # The Redis manager's subscriber runs until cancelled.
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener
        for client in (
            getattr(self.sio.manager, "pubsub", None),
            getattr(self.sio.manager, "redis", None),
        ):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()


def _call_open(visit: Visit, now: datetime) -> bool:
    """Whether a joined connection may keep relaying: the visit is live and, unless the
    patient was admitted already (a call may run past its scheduled end), within its window."""
    return visit.status in states.ACTIVE and (
        visit.admitted_at is not None or lifecycle.within_window(visit, now)
    )


def _waiting_wire(entry: lifecycle.Waiting) -> dict[str, Any]:
    return {
        "visit_id": entry.visit_id,
        "patient_name": entry.patient_name,
        "since": entry.since.isoformat(),
    }


Notice = Callable[[Signaling], Awaitable[None]]


def _queue(request: web.Request, notice: Notice) -> None:
    pending: list[Notice] = request.setdefault(_AFTER_COMMIT, [])
    pending.append(notice)


def after_commit(request: web.Request, kind: str, visit_id: int) -> None:
    """Queue a room notice for after this request's transaction commits.

    The notices run when the response is prepared, which is after the database middleware
    committed; a request that fails (an error status) sends nothing. `kind` is one of
    `checked_in`, `admitted`, `finished` and `changed` (cancelled, rescheduled, no-show).
    """
    _queue(request, lambda signaling: signaling.visit_changed(kind, visit_id))


def alert_after_commit(request: web.Request, alert_id: int) -> None:
    """After this request commits, show the new safety alert on its prescriber's screens."""
    _queue(request, lambda signaling: signaling.safety_alert(alert_id))


def sessions_ended_after_commit(
    request: web.Request, *, token: str | None = None, user_id: int | None = None
) -> None:
    """After this request commits, drop the calls of a signed-out session or of every
    session of a deactivated account, instead of at their next relay."""
    _queue(request, lambda signaling: signaling.recheck_now(token=token, user_id=user_id))


async def _send_after_commit(request: web.Request, response: web.StreamResponse) -> None:
    pending: list[Notice] = request.pop(_AFTER_COMMIT, [])
    if not pending or response.status >= 400:
        return
    signaling = request.app[SIGNALING]
    for notice in pending:
        try:
            await notice(signaling)
        except Exception:
            log.exception("signaling notice failed")


def setup_signaling(app: web.Application) -> None:
    """Attach the socket.io server at /socket.io (namespace /visits) to the app."""
    signaling = Signaling(app)
    app[SIGNALING] = signaling
    bus = signaling.bus
    # Sessions held in memory only while this process hears every sign-out (sessioncache).
    app[SESSION_CACHE] = SessionCache(lambda: bus is None or bus.subscribed.is_set())
    app.on_response_prepare.append(_send_after_commit)

    async def start(_app: web.Application) -> None:
        if signaling.bus is not None:
            signaling.bus.start(signaling._on_bus)

    app.on_startup.append(start)

    async def close(_app: web.Application) -> None:
        await signaling.close()

    app.on_shutdown.append(close)
