"""Realtime layer: what the call rooms and dashboards hear once a change has committed.

The domain events come from the rows a transaction writes, whichever path wrote them (an
HTTP handler, a socket event, a command, a background task), so nobody has to remember to
announce a change. When a flush writes a visit's status, admission or time, opens a safety
alert, signs a session out or deactivates an account, `_collect` records an event with the
unit of work (`telehealth.uow`). The unit of work publishes a transaction's events once it
has committed and forgets them if it rolls back; `Notices.publish` is the app's subscriber.
A repeat that changes nothing (admitting twice) writes nothing, and announces nothing.

Notices also serve the socket handlers for what no row records: the waiting-room notice
when a waiting patient's connection joins, `admitted` again to a participant who rejoins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from telehealth.auth.models import Role, User, UserSession
from telehealth.auth.turn import ice_config_for
from telehealth.measures import alerts
from telehealth.measures.models import AlertStatus, SafetyAlert
from telehealth.signaling.bus import Recheck
from telehealth.signaling.protocol import NAMESPACE, ROLES
from telehealth.signaling.rooms import (
    Seat,
    admin_alerts_room,
    dashboard_room,
    seat_room,
    visit_room,
)
from telehealth.uow import collecting, record_event
from telehealth.visits import lifecycle
from telehealth.visits.models import Visit, VisitStatus

if TYPE_CHECKING:
    from telehealth.signaling.server import Signaling


@dataclass(frozen=True)
class VisitChanged:
    """A visit's row changed in a way its call room must hear of. `kind`: `checked_in`,
    `admitted`, `started` (both media connected), `finished`, or `changed` (cancelled,
    marked no-show, moved: its calls end now if they must)."""

    visit_id: int
    kind: str


@dataclass(frozen=True)
class AlertOpened:
    """A safety alert was opened: its prescriber's screens show it at once."""

    alert_id: int


@dataclass(frozen=True)
class SessionsEnded:
    """A session was signed out (`token_hash`) or an account deactivated (`user_id`): their
    connections are checked again at once instead of at their next relay."""

    token_hash: str | None = None
    user_id: int | None = None


# Changing any of these moves the visit or changes who is in it: its calls are checked again.
_MOVING_COLUMNS = ("start", "end", "sequence", "modality", "patient_id", "prescriber_id")


def _visit_change(visit: Visit) -> str | None:
    attrs = inspect(visit).attrs
    status = attrs.status.history.added
    if status:
        return {
            VisitStatus.waiting: "checked_in",
            VisitStatus.in_progress: "started",
            VisitStatus.finished: "finished",
        }.get(status[0], "changed")
    if any(value is not None for value in attrs.admitted_at.history.added):
        return "admitted"
    if any(attrs[name].history.has_changes() for name in _MOVING_COLUMNS):
        return "changed"
    return None


def _events_of(row: object) -> list[object]:
    """The events a change to an existing row stands for."""
    if isinstance(row, Visit) and row.id is not None:
        kind = _visit_change(row)
        return [VisitChanged(row.id, kind)] if kind else []
    if isinstance(row, UserSession) and row.ended_reason == "logout":
        ended = inspect(row).attrs.ended_at.history.added
        return [SessionsEnded(token_hash=row.token_hash)] if any(ended) else []
    if isinstance(row, User) and False in inspect(row).attrs.is_active.history.added:
        return [SessionsEnded(user_id=row.id)]
    return []


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _context: Any) -> None:
    """Record the events of what this flush wrote (the rows still show what changed)."""
    if not collecting(session):
        return
    for row in session.new:
        if isinstance(row, SafetyAlert) and row.id is not None:
            record_event(session, AlertOpened(row.id))
    for row in session.dirty:
        for found in _events_of(row):
            record_event(session, found)


class Notices:
    """The notices of one signaling server, sent to its rooms (with Redis, every process's)."""

    def __init__(self, signaling: Signaling) -> None:
        self.signaling = signaling
        self.sio = signaling.sio

    async def publish(self, events: Sequence[object]) -> None:
        """The unit of work's subscriber: act on a committed transaction's events, once
        each, in the order they happened."""
        for found in dict.fromkeys(events):
            if isinstance(found, VisitChanged):
                await self.visit_changed(found.kind, found.visit_id)
            elif isinstance(found, AlertOpened):
                await self.safety_alert(found.alert_id)
            elif isinstance(found, SessionsEnded):
                await self.signaling.rechecks.now(
                    Recheck(token_hash=found.token_hash, user_id=found.user_id)
                )

    async def visit_changed(self, kind: str, visit_id: int) -> None:
        async with self.signaling.uow(None, "notify") as session:
            visit = await session.get(Visit, visit_id)
        if visit is None:
            return
        if kind == "checked_in":
            await self.waiting(visit_id)
            await self.dashboard_status(visit)
        elif kind == "admitted":
            await self.admitted(visit, roles=ROLES)
            await self.dashboard_status(visit)
        elif kind == "started":
            await self.status_changed(visit)
        elif kind == "finished":
            await self.end_call(visit)
        else:
            # Cancelled, rescheduled or marked no-show: calls on it end now if they must.
            await self.signaling.rechecks.now(Recheck(visit_id=visit_id))
            await self.dashboard_status(visit)

    async def admitted(self, visit: Visit, *, roles: Sequence[str]) -> None:
        """`admitted` to each of `roles` in the call, with their own ICE servers."""
        assert visit.id is not None
        for role in roles:
            user_id = visit.patient_id if role == "patient" else visit.prescriber_id
            ice = ice_config_for(self.signaling.settings, user_id=user_id, now=self.signaling.now())
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

    async def waiting(self, visit_id: int) -> None:
        """Tell the prescriber (call page and dashboard) that the patient waits, if so."""
        async with self.signaling.uow(None, "notify") as session:
            found = await lifecycle.announce_waiting(session, visit_id)
        if found is None:
            return
        entry, prescriber_id = found
        data = waiting_wire(entry)
        for room in (seat_room(visit_id, "prescriber"), dashboard_room(prescriber_id)):
            await self.sio.emit("waiting_room", data, room=room, namespace=NAMESPACE)

    async def safety_alert(self, alert_id: int, *, escalated: bool = False) -> None:
        """Push a safety alert to its prescriber's screens (dashboard and call page), and, once
        escalated, to every administrator's. Reaching a screen is audited as shown."""
        async with self.signaling.uow(None, "notify") as session:
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

    async def status_changed(self, visit: Visit) -> None:
        assert visit.id is not None
        await self.sio.emit(
            "visit_status",
            {"visit_id": visit.id, "status": visit.status.value},
            room=visit_room(visit.id),
            namespace=NAMESPACE,
        )
        await self.dashboard_status(visit)

    async def dashboard_status(self, visit: Visit) -> None:
        assert visit.id is not None
        patient_here = await self.signaling.seats.holder(Seat(visit.id, "patient")) is not None
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

    async def end_call(self, visit: Visit) -> None:
        """`visit_ended` to both participants; their seats and the visit's rooms are cleared."""
        assert visit.id is not None
        await self.sio.emit(
            "visit_ended", {"visit_id": visit.id}, room=visit_room(visit.id), namespace=NAMESPACE
        )
        await self.dashboard_status(visit)
        await self.signaling.seats.clear_visit(visit.id)
        for conn in self.signaling.connections.values():
            if conn.visit_id == visit.id:
                conn.visit_id = conn.seat_role = None
        for room in (visit_room(visit.id), *(seat_room(visit.id, r) for r in ROLES)):
            await self.sio.close_room(room, namespace=NAMESPACE)


def waiting_wire(entry: lifecycle.Waiting) -> dict[str, Any]:
    return {
        "visit_id": entry.visit_id,
        "patient_name": entry.patient_name,
        "since": entry.since.isoformat(),
    }
