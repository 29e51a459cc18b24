"""Web layer: the pre-call connection test's JSON endpoints (offer in, answer out; close)."""

from __future__ import annotations

from aiohttp import web

from telehealth import audit
from telehealth.errors import InvalidInput, NotFound
from telehealth.http.context import db, json_body, now, require_actor, settings_of
from telehealth.keys import PRECALL
from telehealth.signaling.precall import precall_ice

routes = web.RouteTableDef()


@routes.get("/api/precall/ice-servers")
async def precall_ice_servers(request: web.Request) -> web.StreamResponse:
    """The ICE servers for the connection test: the visit's relays and policy, with
    credentials that last only as long as a test (a visit's own come from its endpoint)."""
    actor = require_actor(request)
    request.app[PRECALL].rate_limit.check(actor.user_id, now(request))
    return web.json_response(precall_ice(settings_of(request), actor.user_id, now(request)).wire())


@routes.post("/api/precall/offer")
async def precall_offer(request: web.Request) -> web.StreamResponse:
    """Any signed-in browser (join-link patients included) may test its connection."""
    actor = require_actor(request)
    registry = request.app[PRECALL]
    registry.rate_limit.check(actor.user_id, now(request))
    body = await json_body(request)
    sdp, kind = body.get("sdp"), body.get("type")
    if not isinstance(sdp, str) or not isinstance(kind, str):
        raise InvalidInput('Send the browser\'s offer as {"sdp", "type"}.', field="sdp")
    # Gathering ICE candidates can take seconds with STUN: end this request's (read-only)
    # transaction first, so no database lock is held while the peer answers.
    session = db(request)
    await audit.flush(session)
    await session.commit()
    peer_id, answer_sdp, answer_type = await registry.answer(
        owner_id=actor.user_id, sdp=sdp, kind=kind
    )
    return web.json_response(
        {
            "id": peer_id,
            "sdp": answer_sdp,
            "type": answer_type,
            "expires_in": int(registry.max_age_seconds),
        },
        status=201,
    )


@routes.delete("/api/precall/{id}")
async def precall_close(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    if not await request.app[PRECALL].close(request.match_info["id"], owner_id=actor.user_id):
        raise NotFound()
    return web.Response(status=204)
