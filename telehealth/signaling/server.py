"""Realtime layer: the Socket.IO handlers. Signaling for video visits on namespace /visits.

The connection is authenticated by the session cookie; every event is parsed by `protocol`,
rate limited per connection, and handled in its own unit of work; what writes to a visit's
call history is budgeted per visit and account (`limits`), and a repeat that changes nothing
writes nothing. Rooms are named from authorised visit ids (`rooms`); seats are held in
`seats`, the transport's own adaptations (and malformed packets) are in `transport`, and what
the rooms hear after a change commits is in `notices`. Events of one connection are handled
one after another (`async_handlers=False`), so an offer is never overtaken by the candidate
sent after it. With `TELEHEALTH_REDIS_URL` set, several processes share rooms and seats
through Redis, and ask each other to check connections again over the `bus`. Relaying a
signal does not touch the database, so at most every few seconds per connection
(`rooms.RECHECK_INTERVAL`) the relay checks again that the session is signed in and the
visit still open, and ends the connection's call when either is over. The protocol is
documented in docs/signaling.md.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telehealth import audit
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor
from telehealth.auth.sessioncache import SessionCache
from telehealth.config import Settings
from telehealth.errors import DomainError, NotFound, PermissionDenied, RateLimited, Unauthenticated
from telehealth.keys import CLOCK, SESSION_CACHE, SESSIONMAKER, SETTINGS, SIGNALING
from telehealth.signaling import protocol
from telehealth.signaling.bus import RecheckBus
from telehealth.signaling.connections import (
    SESSION_ENDED,
    Connection,
    Rechecks,
    handshake,
    origin_allowed,
    session_actor,
)
from telehealth.signaling.limits import LocalWriteBudget, RedisWriteBudget, WriteBudget
from telehealth.signaling.notices import Notices, waiting_wire
from telehealth.signaling.protocol import NAMESPACE, error_ack, other_role
from telehealth.signaling.rooms import (
    RateLimiter,
    Seat,
    admin_alerts_room,
    dashboard_room,
    joined_check_time,
    recheck_due,
    seat_room,
    visit_room,
)
from telehealth.signaling.seats import LocalSeats, RedisSeats, SeatStore
from telehealth.signaling.transport import TransportServer
from telehealth.uow import subscribe, unit_of_work
from telehealth.visits import lifecycle, quality, states
from telehealth.visits.models import VisitStatus

log = logging.getLogger("telehealth.signaling")

# Largest engine.io packet accepted; bigger ones close the connection at the transport.
# Signals are refused politely up to this size (SDP itself is capped at 64 KiB).
MAX_PACKET_BYTES = 256 * 1024


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
            cors_allowed_origins=functools.partial(origin_allowed, settings),
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
        self.notices = Notices(self)
        self.rechecks = Rechecks(self)
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

    @asynccontextmanager
    async def uow(
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

    async def _require_actor(self, session: AsyncSession, conn: Connection) -> Actor:
        actor = await session_actor(session, conn.token, self.settings, self.now())
        if actor is None:
            raise Unauthenticated(SESSION_ENDED)
        return actor

    async def refuse(self, sid: str, event: str, error: DomainError) -> dict[str, Any]:
        ack = error_ack(error)
        await self.sio.emit("error", {"event": event, **ack}, to=sid, namespace=NAMESPACE)
        return ack

    def _guarded(self, name: str, handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        async def run(sid: str, *args: Any) -> dict[str, Any]:
            conn = self.connections.get(sid)
            if conn is None:
                return await self.refuse(sid, name, Unauthenticated())
            if not self.limiter.allow(sid, time.monotonic()):
                return await self.refuse(
                    sid,
                    name,
                    RateLimited("Too many messages. Slow down and try again in a moment."),
                )
            try:
                return await handler(sid, conn, protocol.first_argument(args))
            except DomainError as exc:
                return await self.refuse(sid, name, exc)
            except Exception:
                if sid not in self.connections:
                    # The client went away mid-event (socket.io raises on its rooms): no fault.
                    return error_ack(
                        DomainError("The connection closed. Reconnect.", code="not_connected")
                    )
                log.exception("signaling event failed", extra={"event": name, "sid": sid})
                return await self.refuse(
                    sid,
                    name,
                    DomainError(
                        "Something went wrong on our side. Try again.", code="server_error"
                    ),
                )

        return run

    async def _unknown(self, event: str, sid: str, *args: Any) -> dict[str, Any]:
        if not self.limiter.allow(sid, time.monotonic()):
            return error_ack(RateLimited("Too many messages. Slow down and try again."))
        return await self.refuse(
            sid,
            str(event)[:64],
            DomainError("That event is not part of the visits protocol.", code="unknown_event"),
        )

    # -- connection ----------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        conn = await handshake(self, sid, environ)
        self.connections[sid] = conn
        log.info("signaling connected", extra={"sid": sid, "user_id": conn.user_id})

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        conn = self.connections.pop(sid, None)
        self.limiter.forget(sid)
        if conn is None or conn.visit_id is None or conn.seat_role is None or self.closing:
            return
        log.info("signaling disconnected", extra={"sid": sid, "user_id": conn.user_id})
        try:
            # socket.io's reasons: "client disconnect", "transport close", "ping timeout", ...
            code = str(reason or "disconnected").replace(" ", "_")
            await self.vacate(sid, conn, kind="left", reason=code)
        except Exception:
            log.exception("recording a disconnect failed", extra={"sid": sid})

    async def vacate(self, sid: str, conn: Connection, *, kind: str, reason: str) -> None:
        """The connection leaves its visit: free its seat and tell the other participant."""
        visit_id, role = conn.visit_id, conn.seat_role
        assert visit_id is not None and role is not None
        conn.visit_id = conn.seat_role = None
        await self.sio.leave_room(sid, visit_room(visit_id), namespace=NAMESPACE)
        await self.sio.leave_room(sid, seat_room(visit_id, role), namespace=NAMESPACE)
        if not await self.seats.release(Seat(visit_id, role), sid):
            return  # another tab took the seat: it is not a departure
        async with self.uow(conn, sid) as session:
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
            await self.notices.dashboard_status(visit)

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
        async with self.uow(conn, sid) as session:
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
            await self.vacate(sid, conn, kind="left", reason="joined_other_visit")
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
            await self.notices.admitted(visit, roles=(role,))
        elif role == "patient" and visit.status is VisitStatus.waiting:
            await self.notices.waiting(visit_id)
        return {"ok": True, "role": role, "status": visit.status.value}

    async def _join_again(self, sid: str, conn: Connection, visit_id: int) -> dict[str, Any]:
        """A join from the connection that holds the seat already: checked, answered, and
        neither recorded nor announced again (nothing changed)."""
        now = self.now()
        async with self.uow(conn, sid) as session:
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
        await self.vacate(sid, conn, kind="left", reason="hung_up")
        return {"ok": True}

    async def _admit(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        async with self.uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit = await lifecycle.admit(session, actor=actor, visit_id=visit_id, now=self.now())
        # The room hears `admitted` from the unit of work (notices), before this ack.
        return {"ok": True, "status": visit.status.value}

    async def _signal(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        signal = protocol.parse_signal(payload)
        if conn.visit_id != signal.visit_id or conn.seat_role is None:
            raise NotFound("Join the visit before sending signals.", code="not_joined")
        if recheck_due(conn.checked_at, self.now()):
            refusal = await self.rechecks.check_again(sid, conn, event="signal")
            if refusal is not None:
                return refusal
        await self.sio.emit(
            "signal",
            signal.wire(conn.seat_role),
            room=seat_room(signal.visit_id, other_role(conn.seat_role)),
            namespace=NAMESPACE,
        )
        return {"ok": True}

    def disconnect_soon(self, sid: str) -> None:
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
        async with self.uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
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
        # A call that started (both media connected) is announced by the unit of work.
        return {"ok": True, "status": visit.status.value}

    async def _call_quality(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        report = protocol.parse_call_quality(payload)
        if conn.visit_id != report.visit_id:
            raise NotFound("Join the visit before reporting its quality.", code="not_joined")
        async with self.uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            await quality.record_call_quality(
                session, actor=actor, visit_id=report.visit_id, sample=report.sample, now=self.now()
            )
        return {"ok": True}

    async def _end(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        visit_id = protocol.parse_visit_id(payload)
        async with self.uow(conn, sid) as session:
            actor = await self._require_actor(session, conn)
            visit = await lifecycle.complete_visit(
                session, actor=actor, visit_id=visit_id, now=self.now()
            )
        # `visit_ended` goes to the room from the unit of work (notices), before this ack.
        return {"ok": True, "status": visit.status.value}

    async def _watch_dashboard(self, sid: str, conn: Connection, payload: Any) -> dict[str, Any]:
        if payload is not None and not isinstance(payload, dict):
            raise protocol.ProtocolError("Send an empty object with watch_dashboard.")
        async with self.uow(conn, sid) as session:
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
        entries = [waiting_wire(w) for w in waiting]
        for entry in entries:
            await self.sio.emit("waiting_room", entry, to=sid, namespace=NAMESPACE)
        return {"ok": True, "waiting": entries}

        for entry in entries:
            await self.sio.emit("waiting_room", entry, to=sid, namespace=NAMESPACE)
        return {"ok": True, "waiting": entries}

    # -- lifecycle of the server ---------------------------------------------------------

    async def close(self) -> None:
        """On shutdown: drop every socket without a goodbye, so clients reconnect to the next
        server, and record nothing (a restart is not the participants leaving)."""
        self.closing = True
        for task in list(self._pending):
            task.cancel()
        await self.sio.drop_everyone()
        await self.sio.shutdown()
        await self.seats.close()
        await self.write_budget.close()
        if self.bus is not None:
            await self.bus.close()
        await self.sio.close_manager()


def setup_signaling(app: web.Application) -> None:
    """Attach the socket.io server at /socket.io (namespace /visits) to the app; its notices
    hear every committed unit of work of the app's sessionmaker."""
    signaling = Signaling(app)
    app[SIGNALING] = signaling
    bus = signaling.bus
    # Sessions held in memory only while this process hears every sign-out (sessioncache).
    app[SESSION_CACHE] = SessionCache(lambda: bus is None or bus.subscribed.is_set())
    subscribe(app[SESSIONMAKER], signaling.notices.publish)

    async def start(_app: web.Application) -> None:
        if bus is not None:
            bus.start(signaling.rechecks.here)

    app.on_startup.append(start)

    async def close(_app: web.Application) -> None:
        await signaling.close()

    app.on_shutdown.append(close)
