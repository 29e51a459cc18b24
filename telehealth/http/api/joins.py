"""Web layer: opening a join link (POST /api/join): a session limited to one visit."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth.errors import InvalidInput
from telehealth.http.context import (
    client_address,
    db,
    json_body,
    now,
    settings_of,
)
from telehealth.http.middleware import set_session_cookie
from telehealth.http.models.auth import UserRef
from telehealth.http.models.scheduling import (
    Joined,
    JoinOpen,
)
from telehealth.http.schema import api, respond, validate
from telehealth.measures.questionnaires import MeasuresPolicy, pending_for_visit
from telehealth.timefmt import format_local
from telehealth.visits import joinlinks

routes = web.RouteTableDef()

JOIN_NOT_FOUND = {
    "error": {
        "code": "not_found",
        "message": "This link is not valid now, or the date of birth does not match. Check the "
        "link and your date of birth, or contact the practice for a new link.",
    }
}

# ---------------------------------------------------------------- join links


@routes.post("/api/join")
@api(
    body=JoinOpen,
    responses={200: ("A session limited to that visit", Joined)},
    errors={
        404: "not_found",
        409: "too_early, visit_moved, visit_cancelled, visit_over",
        429: "link_locked",
    },
    public=True,
)
async def join(request: web.Request) -> web.StreamResponse:
    """Open a join link with the date of birth: a session for that one visit, or 404.

    Every failure gets the same 404 body; the response is returned, not raised, so the
    failed-try counter is committed."""
    raw = await json_body(request)
    try:
        body = validate(JoinOpen, raw)
    except InvalidInput:
        return web.json_response(JOIN_NOT_FOUND, status=404)
    settings = settings_of(request)
    opened = await joinlinks.open_join_link(
        db(request),
        token=body.token,
        date_of_birth=body.date_of_birth,
        now=now(request),
        secret=settings.secret_key,
        max_attempts=settings.join_attempts,
        source_address=client_address(request),
    )
    if isinstance(opened, joinlinks.JoinRefused):
        return join_refused(opened)
    visit_id = opened.visit.id
    assert visit_id is not None
    user = opened.user
    answer: dict[str, Any] = {
        "visit_id": visit_id,
        "user": UserRef.of(user),
    }
    if opened.finished:
        # After the visit, the link leads to its ended page (and summary, once signed).
        answer["status"] = "finished"
        answer["next"] = f"/visit/{visit_id}"
    else:
        # The questionnaires the visit asks come before the device check.
        pending = await pending_for_visit(
            db(request), opened.visit, MeasuresPolicy.from_settings(settings)
        )
        answer["next"] = f"/visits/{visit_id}/questionnaires" if pending else f"/visit/{visit_id}"
    response = respond(Joined(**answer), omit_unset=True)
    set_session_cookie(request, response, opened.session_token)
    return response


def join_refused(refused: joinlinks.JoinRefused) -> web.Response:
    """The answer for a link that did not open (times in the patient's own zone)."""
    reason = joinlinks.JoinRefusal
    if refused.reason is reason.not_found:
        return web.json_response(JOIN_NOT_FOUND, status=404)
    if refused.reason is reason.link_locked:
        message = (
            "This link is locked after too many tries with a date of birth that did not "
            "match. Call the practice: they can check your details and send you a new link."
        )
        return web.json_response({"error": {"code": "link_locked", "message": message}}, status=429)
    error: dict[str, Any] = {"code": refused.reason.value}
    zone = refused.timezone
    if refused.reason is reason.too_early and refused.opens_at and refused.start:
        error["opens_at"] = refused.opens_at.isoformat()
        error["start"] = refused.start.isoformat()
        error["message"] = (
            f"Your visit is on {format_local(refused.start, zone)}. You can join from "
            f"{format_local(refused.opens_at, zone)}, 30 minutes before it starts: open this "
            "link again then."
        )
    elif refused.reason is reason.visit_moved and refused.start:
        error["start"] = refused.start.isoformat()
        error["message"] = (
            f"Your visit was moved to {format_local(refused.start, zone)}. Use the link in "
            "your newest invitation email, or call the practice for it."
        )
    elif refused.reason is reason.visit_cancelled:
        error["message"] = "This visit was cancelled. Call the practice to book another time."
    else:
        error["message"] = (
            "The time of this visit has passed. Call the practice to book another visit."
        )
    return web.json_response({"error": error}, status=409)
