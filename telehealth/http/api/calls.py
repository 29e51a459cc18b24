"""Web layer: the HTTP side of a video visit: check-in, admit, complete, ICE servers, history.

What the call room must hear of a change (a patient waiting, the visit admitted or finished)
is published by the unit of work once the request's transaction commits (see uow and
signaling/notices); the handlers here only make the change.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from telehealth.auth.turn import IceConfig, ice_config_for
from telehealth.http.context import db, now, path_id, require_actor, settings_of
from telehealth.http.models.calls import (
    CallEvent,
    CallEvents,
    CallStatus,
    CheckIn,
    IceServers,
)
from telehealth.http.schema import api, parse_body, respond
from telehealth.visits import lifecycle
from telehealth.visits.models import Visit

routes = web.RouteTableDef()

# lifecycle.admit and lifecycle.complete_visit: (session, *, actor, visit_id, now) -> Visit.
Step = Callable[..., Awaitable[Visit]]

_NOT_JOINABLE = {404: "not_found"}


@routes.post("/api/visits/{id:\\d+}/check-in")
@api(
    body=CheckIn,
    responses={200: ("Checked in: waiting", CallStatus)},
    errors={
        403: "forbidden",
        404: "not_found",
        409: "check_in_not_open, check_in_closed, invalid_transition",
        422: "invalid_input, not_licensed_in_state, outside_united_states",
    },
)
async def check_in(request: web.Request) -> web.StreamResponse:
    """Check in to a visit, attesting the state the patient is in now (booked → waiting)."""
    actor = require_actor(request)
    body = await parse_body(request, CheckIn)
    visit = await lifecycle.check_in(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        location_state=body.location_state,
        now=now(request),
    )
    return respond(CallStatus(status=visit.status.value))


@routes.post("/api/visits/{id:\\d+}/admit")
@api(
    responses={200: ("Admitted", CallStatus)},
    errors={404: "not_found", 409: "not_waiting"},
)
async def admit(request: web.Request) -> web.StreamResponse:
    """The prescriber admits the waiting patient; both call pages get `admitted`."""
    return await _prescriber_step(request, lifecycle.admit)


@routes.post("/api/visits/{id:\\d+}/complete")
@api(
    responses={200: ("Finished", CallStatus)},
    errors={404: "not_found", 409: "not_started"},
)
async def complete(request: web.Request) -> web.StreamResponse:
    """The prescriber ends the visit (→ finished); both call pages get `visit_ended`."""
    return await _prescriber_step(request, lifecycle.complete_visit)


async def _prescriber_step(request: web.Request, step: Step) -> web.Response:
    """Take the visit one step on (`step` checks that the caller is its prescriber)."""
    visit = await step(
        db(request), actor=require_actor(request), visit_id=path_id(request), now=now(request)
    )
    return respond(CallStatus(status=visit.status.value))


def ice_servers_reply(config: IceConfig) -> web.Response:
    """ICE servers as the browser's RTCConfiguration names them (STUN entries carry no
    credential fields)."""
    reply = IceServers.model_validate(config.wire())
    return respond(reply, omit_unset=True)


@routes.get("/api/visits/{id:\\d+}/ice-servers")
@api(responses={200: ("ICE servers", IceServers)}, errors=_NOT_JOINABLE)
async def ice_servers(request: web.Request) -> web.StreamResponse:
    """STUN and TURN servers with short-lived credentials, for the visit's participants,
    while its call may run: the same rule (and audited refusal) as joining it by socket."""
    actor = require_actor(request)
    await lifecycle.authorize_join(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    return ice_servers_reply(
        ice_config_for(settings_of(request), user_id=actor.user_id, now=now(request))
    )


@routes.get("/api/visits/{id:\\d+}/events")
@api(responses={200: ("The call history", CallEvents)}, errors={404: "not_found"})
async def call_events(request: web.Request) -> web.StreamResponse:
    """The visit's call history: check-in, joins, leaves, rejoins, admission, media, end."""
    actor = require_actor(request)
    events = await lifecycle.call_events(db(request), actor=actor, visit_id=path_id(request))
    return respond(
        CallEvents(
            events=[
                CallEvent(at=e.at, kind=e.kind, role=e.role, actor_id=e.actor_id, detail=e.detail)
                for e in events
            ]
        )
    )
