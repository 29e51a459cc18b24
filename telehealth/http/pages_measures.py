"""Web layer: the questionnaire pages (patient), the course of measures (prescriber and
patient), and the safety alerts page (prescriber and administrator)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.errors import NotFound
from telehealth.http.charts import mark_text, trend_svg
from telehealth.http.context import db, now, path_id, require_actor, settings_of
from telehealth.measures import alerts, course, questionnaires
from telehealth.measures.course import Course, InstrumentCourse
from telehealth.measures.instruments import packaged_instruments
from telehealth.measures.questionnaires import MeasuresPolicy
from telehealth.visits.medlist import can_see_patient_chart

routes = web.RouteTableDef()


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _day(when: datetime, zone: ZoneInfo) -> str:
    return f"{when.astimezone(zone):%-d %B %Y}"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{abs(value):.0f}%"


def _change_words(change: Any, *, since: str) -> str:
    if change is None:
        return ""
    if change.points == 0:
        return f"no change since {since}"
    direction = "lower" if change.points < 0 else "higher"
    pct = f" ({_pct(change.percent)})" if change.percent is not None else ""
    return f"{abs(change.points)} points {direction}{pct} than {since}"


def instrument_summary(c: InstrumentCourse, zone: ZoneInfo) -> dict[str, Any]:
    """The prescriber's reading of one instrument's course."""
    latest, baseline, previous = c.latest, c.baseline, c.previous
    flags = []
    if c.responded:
        flags.append("Response: at least 50% below baseline")
    if c.remitted:
        flags.append(f"Remission: under {c.instrument.remission_below}")
    return {
        "id": c.instrument.id,
        "name": c.instrument.name,
        "topic": c.instrument.topic,
        "latest": latest.score,
        "max": c.instrument.max_score,
        "band": c.band_label,
        "severity": latest.severity,
        "latest_day": _day(latest.submitted_at, zone),
        "baseline": baseline.score,
        "baseline_day": _day(baseline.submitted_at, zone),
        "since_baseline": _change_words(c.since_baseline, since="the first measure"),
        "since_previous": (
            _change_words(c.since_previous, since=f"the last visit ({previous.score})")
            if previous
            else ""
        ),
        "count": len(c.measures),
        "flags": flags,
        "plain": _plain_words(c, zone),
    }


def _plain_words(c: InstrumentCourse, zone: ZoneInfo) -> str:
    """The patient's reading of their own course, in plain words."""
    latest = c.latest
    text = (
        f"Your {c.instrument.name} ({c.instrument.topic}) score was {latest.score} out of "
        f"{c.instrument.max_score} on {_day(latest.submitted_at, zone)}, in the range of "
        f"{c.band_label}."
    )
    change = c.since_baseline
    if change is not None:
        first = c.baseline
        if change.points < 0:
            text += (
                f" That is {abs(change.points)} points lower than your first score "
                f"({first.score} on {_day(first.submitted_at, zone)}): lower means fewer "
                "symptoms."
            )
        elif change.points > 0:
            text += (
                f" That is {change.points} points higher than your first score "
                f"({first.score} on {_day(first.submitted_at, zone)}). Talk it over with your "
                "prescriber."
            )
        else:
            text += f" It is the same as your first score on {_day(first.submitted_at, zone)}."
    return text


def course_context(result: Course, zone_name: str | None, *, chart_id: str) -> dict[str, Any]:
    zone = _zone(zone_name)
    rows: list[dict[str, Any]] = []
    for c in result.instruments:
        for m in c.measures:
            rows.append(
                {
                    "at": m.submitted_at,
                    "day": _day(m.submitted_at, zone),
                    "what": c.instrument.name,
                    "value": f"{m.score} ({c.instrument.band(m.score).label})",
                }
            )
    for mark in result.medication_marks:
        rows.append(
            {
                "at": mark.at,
                "day": _day(mark.at, zone),
                "what": "Medication",
                "value": mark_text(mark),
            }
        )
    rows.sort(key=lambda r: r["at"].timestamp())
    return {
        "instruments": [instrument_summary(c, zone) for c in result.instruments],
        "chart": trend_svg(result, zone.key, chart_id=chart_id),
        "rows": rows,
        "empty": result.empty,
    }


async def measures_panel_context(
    session: AsyncSession, actor: Actor, patient_id: int, zone_name: str | None
) -> dict[str, Any] | None:
    """The open safety alerts and the course of measures for the record panel.

    The alerts this prescriber must act on show even before the patient has come to one of
    their visits (a new patient's answers before a first visit); the course needs the chart
    access of a prescriber who treats the patient. None when there is neither."""
    open_alerts = [
        a
        for a in await alerts.open_alerts_for_patient(session, patient_id)
        if alerts.can_see_alert(actor, a)
    ]
    for alert in open_alerts:
        alerts.mark_shown(session, alert, where="visit_record")
    zone = _zone(zone_name)
    context: dict[str, Any] = {
        "alerts": [
            {"id": a.id, "created": _day(a.created_at, zone), "visit_id": a.visit_id}
            for a in open_alerts
        ],
        "course": None,
    }
    if await can_see_patient_chart(session, actor, patient_id):
        result = await course.patient_course(session, actor=actor, patient_id=patient_id)
        context["course"] = course_context(result, zone_name, chart_id=f"trend-{patient_id}")
    if context["course"] is None and not open_alerts:
        return None
    return context


@routes.get("/visits/{id}/questionnaires")
async def questionnaires_page(request: web.Request) -> web.StreamResponse:
    """The patient answers the visit's questionnaires here (phone-sized), before the call."""
    actor = require_actor(request)
    session = db(request)
    if actor.role is not Role.patient:
        raise NotFound()
    visit, views = await questionnaires.list_questionnaires(
        session,
        actor=actor,
        visit_id=path_id(request),
        policy=MeasuresPolicy.from_settings(settings_of(request)),
    )
    prescriber = await session.get(User, visit.prescriber_id)
    profile = await session.get(PatientProfile, visit.patient_id)
    instruments = packaged_instruments()
    if actor.questionnaires_only:
        next_url = ""
    elif actor.visit_scope is not None:
        next_url = f"/visit/{visit.id}"
    else:
        next_url = "/patient"
    return aiohttp_jinja2.render_template(
        "questionnaires.html",
        request,
        {
            "visit": visit,
            "prescriber_name": prescriber.full_name if prescriber else "",
            "when": _day(visit.start, _zone(profile.timezone if profile else None)),
            "views": views,
            "crisis": instruments.crisis_resources,
            "next_url": next_url,
            "video_next": actor.visit_scope is not None and not actor.questionnaires_only,
        },
    )


@routes.get("/questionnaires/{token}")
async def questionnaire_link_page(request: web.Request) -> web.StreamResponse:
    """The reminder email's link. Like the join page it never looks the token up."""
    return aiohttp_jinja2.render_template("questionnaire_link.html", request, {})


@routes.get("/alerts")
async def alerts_page(request: web.Request) -> web.StreamResponse:
    """Open safety alerts: a prescriber's own patients', every one for an administrator."""
    actor = require_actor(request)
    session = db(request)
    views = await alerts.list_alerts(session, actor=actor, status="open")
    zone = None
    if actor.role is Role.prescriber:
        profile = await session.get(PrescriberProfile, actor.user_id)
        zone = profile.timezone if profile else None
    return aiohttp_jinja2.render_template(
        "alerts.html",
        request,
        {"alerts": [alert_row(v, _zone(zone)) for v in views], "timezone": zone},
    )


def alert_row(view: alerts.AlertView, zone: ZoneInfo) -> dict[str, Any]:
    a = view.alert
    return {
        "id": a.id,
        "patient_name": view.patient_name,
        "patient_id": a.patient_id,
        "visit_id": a.visit_id,
        "created": f"{a.created_at.astimezone(zone):%-d %B %Y, %-I:%M %p} ({zone.key})",
        "escalated": a.escalated_at is not None,
    }


async def open_alert_rows(
    session: AsyncSession, actor: Actor, zone_name: str | None
) -> list[dict[str, Any]]:
    """For a dashboard: the open alerts this prescriber or administrator must see."""
    views = await alerts.list_alerts(session, actor=actor, status="open")
    zone = _zone(zone_name)
    return [alert_row(v, zone) for v in views]


async def patient_measures_context(request: web.Request, actor: Actor) -> dict[str, Any]:
    """The patient's home: questionnaires still to answer before upcoming visits, and their
    own course in plain words."""
    session = db(request)
    profile = await session.get(PatientProfile, actor.user_id)
    zone_name = profile.timezone if profile else None
    policy = MeasuresPolicy.from_settings(settings_of(request))
    to_answer = []
    for visit in await questionnaires.upcoming_visits(session, actor=actor, now=now(request)):
        pending = await questionnaires.pending_for_visit(session, visit, policy)
        if pending:
            to_answer.append(
                {
                    "url": f"/visits/{visit.id}/questionnaires",
                    "when": _day(visit.start, _zone(zone_name)),
                    "names": " and ".join(i.name for i in pending),
                }
            )
    result = await course.patient_course(session, actor=actor, patient_id=actor.user_id)
    return {
        "to_answer": to_answer,
        "my_course": course_context(result, zone_name, chart_id="my-trend"),
    }
