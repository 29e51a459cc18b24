"""Web layer: the HTTP side of a video visit: check-in, admit, complete, ICE servers, history.

Changes that the call room must hear about (a patient waiting, the visit admitted or
finished) are queued with `after_commit` and sent once the request's transaction commits.
"""

from __future__ import annotations

from aiohttp import web

from telehealth.http.context import db, json_body, now, path_id, require_actor, settings_of
from telehealth.signaling.server import after_commit
from telehealth.signaling.turn import ice_config_for
from telehealth.visits import lifecycle

routes = web.RouteTableDef()


@routes.post("/api/visits/{id:\\d+}/check-in")
async def check_in(request: web.Request) -> web.Response:
    """Check in to a visit, attesting the state the patient is in now (booked → waiting)."""
    actor = require_actor(request)
    body = await json_body(request)
    visit = await lifecycle.check_in(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        location_state=body.get("location_state"),
        now=now(request),
    )
    assert visit.id is not None
    after_commit(request, "checked_in", visit.id)
    return web.json_response({"status": visit.status.value})


@routes.post("/api/visits/{id:\\d+}/admit")
async def admit(request: web.Request) -> web.Response:
    """The prescriber admits the waiting patient; both call pages get `admitted`."""
    actor = require_actor(request)
    visit = await lifecycle.admit(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    assert visit.id is not None
    after_commit(request, "admitted", visit.id)
    return web.json_response({"status": visit.status.value})


@routes.post("/api/visits/{id:\\d+}/complete")
async def complete(request: web.Request) -> web.Response:
    """The prescriber ends the visit (→ finished); both call pages get `visit_ended`."""
    actor = require_actor(request)
    visit = await lifecycle.complete_visit(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    assert visit.id is not None
    after_commit(request, "finished", visit.id)
    return web.json_response({"status": visit.status.value})


@routes.get("/api/visits/{id:\\d+}/ice-servers")
async def ice_servers(request: web.Request) -> web.Response:
    """STUN and TURN servers with short-lived credentials, for the visit's participants,
    while its call may run: the same rule (and audited refusal) as joining it by socket."""
    actor = require_actor(request)
    await lifecycle.authorize_join(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    config = ice_config_for(settings_of(request), user_id=actor.user_id, now=now(request))
    return web.json_response(config.wire())


@routes.get("/api/visits/{id:\\d+}/events")
async def call_events(request: web.Request) -> web.Response:
    """The visit's call history: check-in, joins, leaves, rejoins, admission, media, end."""
    actor = require_actor(request)
    events = await lifecycle.call_events(db(request), actor=actor, visit_id=path_id(request))
    return web.json_response(
        {
            "events": [
                {
                    "at": e.at.isoformat(),
                    "kind": e.kind,
                    "role": e.role,
                    "actor_id": e.actor_id,
                    "detail": e.detail,
                }
                for e in events
            ]
        }
    )
