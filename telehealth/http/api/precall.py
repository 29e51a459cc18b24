"""Web layer: the pre-call connection test's JSON endpoints (offer in, answer out; close).

The test peers live in the app's registry (`keys.PRECALL`, set up by the signaling side);
this module reaches it through the app, never by importing the signaling package.
"""

from __future__ import annotations

from aiohttp import web

from telehealth.auth.turn import precall_ice
from telehealth.errors import NotFound
from telehealth.http.api.calls import ice_servers_reply
from telehealth.http.context import db, now, require_actor, settings_of
from telehealth.http.models.calls import IceServers, PrecallAnswer, PrecallOffer
from telehealth.http.schema import api, parse_body, respond
from telehealth.keys import PRECALL
from telehealth.uow import commit_so_far

routes = web.RouteTableDef()


@routes.get("/api/precall/ice-servers")
@api(responses={200: ("ICE servers for one test", IceServers)}, errors={429: "rate_limited"})
async def precall_ice_servers(request: web.Request) -> web.StreamResponse:
    """The ICE servers for the connection test: the visit's relays and policy, with
    credentials that last only as long as a test (a visit's own come from its endpoint)."""
    actor = require_actor(request)
    request.app[PRECALL].rate_limit.check(actor.user_id, now(request))
    return ice_servers_reply(precall_ice(settings_of(request), actor.user_id, now(request)))


@routes.post("/api/precall/offer")
@api(
    body=PrecallOffer,
    responses={201: ("The server peer's answer", PrecallAnswer)},
    errors={422: "invalid_input, bad_offer", 429: "rate_limited", 503: "precall_busy"},
)
async def precall_offer(request: web.Request) -> web.StreamResponse:
    """Any signed-in browser (join-link patients included) may test its connection."""
    actor = require_actor(request)
    registry = request.app[PRECALL]
    registry.rate_limit.check(actor.user_id, now(request))
    offer = await parse_body(request, PrecallOffer)
    # Gathering ICE candidates can take seconds with STUN: end this request's (read-only)
    # transaction first, so no database lock is held while the peer answers.
    await commit_so_far(db(request))
    peer_id, answer_sdp, answer_type = await registry.answer(
        owner_id=actor.user_id, sdp=offer.sdp, kind=offer.type
    )
    answer = PrecallAnswer(
        id=peer_id, sdp=answer_sdp, type=answer_type, expires_in=int(registry.max_age_seconds)
    )
    return respond(answer, status=201)


@routes.delete("/api/precall/{id}")
@api(responses={204: ("Closed", None)}, errors={404: "not_found"})
async def precall_close(request: web.Request) -> web.StreamResponse:
    """End one of the caller's own connection tests now."""
    actor = require_actor(request)
    if not await request.app[PRECALL].close(request.match_info["id"], owner_id=actor.user_id):
        raise NotFound()
    return web.Response(status=204)
