"""Web layer: the availability editor (a plain form that works without JavaScript), the
prescriber's own booking page, and the week a scheduler books on (its view model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth import accounts
from telehealth.auth.models import Role
from telehealth.auth.policy import Actor, ensure_full_session
from telehealth.db import is_row_id
from telehealth.errors import InvalidInput, NotFound
from telehealth.http.context import db, form_body, int_param, now, path_id, require_actor
from telehealth.http.models.scheduling import AvailabilityOut, AvailabilitySave
from telehealth.http.schema import validate
from telehealth.scheduling import availability, parties, queries
from telehealth.scheduling import slots as sl
from telehealth.scheduling.policy import (
    MAX_EXCEPTIONS,
    MAX_RANGES_PER_DAY,
    BookingRules,
    ensure_can_edit_availability,
    ensure_sane_date,
)
from telehealth.scheduling.queries import PrescriberSummary, VisitView
from telehealth.visits.models import VisitStatus, VisitType

routes = web.RouteTableDef()

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
RANGES_PER_DAY = 3
BLANK_EXCEPTIONS = 3
# The most rows the editor ever renders: what the service accepts, plus the blank rows.
MOST_RANGES_PER_DAY = MAX_RANGES_PER_DAY
MOST_EXCEPTION_ROWS = MAX_EXCEPTIONS + BLANK_EXCEPTIONS
EXCEPTION_KINDS = {
    "off": "Day off",
    "off_part": "Time off (part of the day)",
    "extra": "Extra hours",
}


def _form_rows(availability: dict[str, Any]) -> dict[str, Any]:
    """The editor's rows: each weekday with a fixed number of range inputs, then exceptions."""
    days: list[dict[str, Any]] = []
    for n, name in enumerate(WEEKDAYS):
        ranges = [r for r in availability["weekly"] if r["weekday"] == n]
        ranges += [{"start": "", "end": ""}] * max(0, RANGES_PER_DAY - len(ranges))
        days.append({"index": n, "name": name, "ranges": ranges})
    exceptions = []
    for e in availability["exceptions"]:
        if not e.get("available", True):
            kind = "off_part" if e.get("start") else "off"
        else:
            kind = "extra"
        exceptions.append(
            {"date": e["date"], "kind": kind, "start": e.get("start", ""), "end": e.get("end", "")}
        )
    exceptions += [{"date": "", "kind": "off", "start": "", "end": ""}] * BLANK_EXCEPTIONS
    return {"days": days, "exceptions": exceptions}


def _row_count(value: str, default: int, most: int) -> int:
    """A hidden row count the page itself wrote; anything else means a damaged form."""
    if not value:
        return default
    if len(value) > 4 or not value.isascii() or not value.isdigit() or int(value) > most:
        raise InvalidInput("The form could not be read. Reload the page and try again.")
    return int(value)


def _parse_form(form: MultiDictProxy[Any]) -> dict[str, Any]:
    def get(name: str) -> str:
        return str(form.get(name, "")).strip()

    day_counts = [
        _row_count(get(f"w{day}_count"), RANGES_PER_DAY, MOST_RANGES_PER_DAY) for day in range(7)
    ]
    exception_count = _row_count(get("x_count"), 0, MOST_EXCEPTION_ROWS)
    weekly: list[dict[str, Any]] = []
    for day in range(7):
        for n in range(day_counts[day]):
            start, end = get(f"w{day}_{n}_start"), get(f"w{day}_{n}_end")
            if start or end:
                weekly.append({"weekday": day, "start": start, "end": end})
    exceptions: list[dict[str, Any]] = []
    for n in range(exception_count):
        on, kind = get(f"x{n}_date"), get(f"x{n}_kind")
        start, end = get(f"x{n}_start"), get(f"x{n}_end")
        if not on:
            continue
        if kind == "off":
            exceptions.append({"date": on, "available": False})
        elif kind == "off_part":
            exceptions.append({"date": on, "available": False, "start": start, "end": end})
        else:
            exceptions.append({"date": on, "start": start, "end": end})
    buffer = get("buffer_minutes")
    try:
        buffer_minutes = int(buffer) if buffer else 0
    except ValueError:
        raise InvalidInput("The buffer must be a whole number of minutes.") from None
    return {"weekly": weekly, "exceptions": exceptions, "buffer_minutes": buffer_minutes}


def _prescriber_id(request: web.Request) -> int:
    prescriber_id = path_id(request)
    if not is_row_id(prescriber_id):
        raise NotFound()  # exactly like a missing prescriber
    return prescriber_id


async def _context(request: web.Request, prescriber_id: int) -> dict[str, Any]:
    actor = require_actor(request)
    ensure_can_edit_availability(actor, prescriber_id)
    current = await availability.get_availability(
        db(request), actor=actor, prescriber_id=prescriber_id
    )
    prescriber = await accounts.get_user(db(request), prescriber_id)
    shown = AvailabilityOut.of(current).model_dump(mode="json", exclude_unset=True)
    return {
        "prescriber": prescriber,
        "timezone": current.timezone,
        "buffer_minutes": current.buffer_minutes,
        "availability": {"weekly": shown["weekly"], "exceptions": shown["exceptions"]},
        "kinds": EXCEPTION_KINDS,
        "ranges_per_day": RANGES_PER_DAY,
    }


@routes.get("/prescribers/{id}/availability")
async def availability_page(request: web.Request) -> web.StreamResponse:
    prescriber_id = _prescriber_id(request)
    context = await _context(request, prescriber_id)
    context.update(_form_rows(context["availability"]))
    context["saved"] = request.query.get("saved") == "1"
    return aiohttp_jinja2.render_template("scheduling_availability.html", request, context)


@routes.post("/prescribers/{id}/availability")
async def availability_submit(request: web.Request) -> web.StreamResponse:
    prescriber_id = _prescriber_id(request)
    context = await _context(request, prescriber_id)
    form = await form_body(request)
    submitted: dict[str, Any] = {}
    try:
        submitted = _parse_form(form)
        hours = validate(AvailabilitySave, submitted)
        await availability.set_availability(
            db(request),
            actor=require_actor(request),
            prescriber_id=prescriber_id,
            weekly=hours.weekly,
            exceptions=hours.exceptions,
            buffer_minutes=hours.buffer_minutes,
        )
    except InvalidInput as exc:
        # Show the form again with what was typed, and say what to fix.
        shown = submitted or context["availability"]
        context.update(_form_rows(shown))
        context["buffer_minutes"] = submitted.get("buffer_minutes", context["buffer_minutes"])
        context["error"] = exc.message
        return aiohttp_jinja2.render_template(
            "scheduling_availability.html", request, context, status=422
        )
    # Returned, not raised: a raised redirect would roll the change back.
    location = f"/prescribers/{prescriber_id}/availability?saved=1"
    return web.Response(status=303, headers={"Location": location})


@routes.get("/visits/new")
async def book_own_page(request: web.Request) -> web.StreamResponse:
    """A prescriber books a patient they treat on their own calendar (the way forward from
    the in-person refusal; it opens in a new tab beside the call)."""
    actor = require_actor(request)
    ensure_full_session(actor)
    if actor.role is not Role.prescriber:
        raise NotFound()
    patient_id = int_param(request.query.get("patient_id"), "patient_id")
    assert patient_id is not None
    patient, profile = await queries.patient_to_book(
        db(request), actor=actor, prescriber_id=actor.user_id, patient_id=patient_id
    )
    modality = request.query.get("modality")
    return aiohttp_jinja2.render_template(
        "prescriber_book.html",
        request,
        {
            "patient": patient,
            "patient_state": profile.state,
            "prescriber_id": actor.user_id,
            "modality": modality if modality in ("telehealth", "in_person") else "in_person",
            "today": now(request).date().isoformat(),
        },
    )


# ---------------------------------------------------------------- the week (view model)


@dataclass(frozen=True)
class WeekDay:
    on: date
    slots: list[sl.Interval]
    visits: list[VisitView]
    past: bool = False  # before today in the prescriber's zone


@dataclass(frozen=True)
class Week:
    prescriber: PrescriberSummary
    start: date
    days: list[WeekDay]
    patient_timezone: str | None = None


async def week_schedule(
    session: AsyncSession,
    *,
    actor: Actor,
    prescriber_id: int,
    week_of: date | None,
    visit_type: VisitType,
    now: datetime,
    rules: BookingRules,
    patient_id: int | None = None,
    include_cancelled: bool = False,
) -> Week:
    """One prescriber's week (Monday to Sunday in their own zone): free slots and visits."""
    await parties.ensure_books_for(session, actor, prescriber_id, patient_id)
    if week_of is not None:
        ensure_sane_date(week_of, "week")
    summary = await queries.prescriber_summary(session, prescriber_id)
    zone = ZoneInfo(summary.timezone)
    anchor = week_of or now.astimezone(zone).date()
    monday = anchor - timedelta(days=anchor.weekday())
    start = sl.wall_to_utc(monday, 0, zone)
    end = sl.wall_to_utc(monday + timedelta(days=7), 0, zone)
    free = await availability.list_slots(
        session,
        actor=actor,
        prescriber_id=prescriber_id,
        start=start,
        end=end,
        visit_type=visit_type,
        now=now,
        rules=rules,
        patient_id=patient_id,
    )
    visits = await queries.list_visits(
        session, actor=actor, prescriber_id=prescriber_id, start=start, end=end
    )
    if not include_cancelled:
        # Cancelled visits stay out of the way unless asked for; finished and no-show ones
        # stay: the day as it happened.
        visits = [v for v in visits if v.visit.status is not VisitStatus.cancelled]
    today = now.astimezone(zone).date()
    days = []
    for n in range(7):
        on = monday + timedelta(days=n)
        days.append(
            WeekDay(
                on=on,
                slots=[s for s in free if s.start.astimezone(zone).date() == on],
                visits=[v for v in visits if v.visit.start.astimezone(zone).date() == on],
                past=on < today,
            )
        )
    return Week(
        prescriber=summary,
        start=monday,
        days=days,
        patient_timezone=await queries.patient_timezone(session, patient_id),
    )
