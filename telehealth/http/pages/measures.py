"""Web layer: the questionnaire pages (patient), the course of measures (prescriber and
patient), and the safety alerts page (prescriber and administrator)."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from telehealth.auth.models import PatientProfile, PrescriberProfile, Role, User
from telehealth.auth.policy import Actor
from telehealth.errors import NotFound
from telehealth.http.context import db, now, path_id, require_actor, settings_of
from telehealth.http.pages.charts import trend_svg
from telehealth.measures import alerts, course, questionnaires
from telehealth.measures.course import Course, InstrumentCourse, mark_words, read_course
from telehealth.measures.instruments import packaged_instruments
from telehealth.measures.models import AlertStatus
from telehealth.measures.questionnaires import MeasuresPolicy
from telehealth.timefmt import format_date, format_time, zone_or_utc
from telehealth.visits.medlist import can_see_patient_chart

routes = web.RouteTableDef()


def instrument_summary(c: InstrumentCourse, zone_name: str) -> dict[str, Any]:
    """The prescriber's reading of one instrument's course (and the patient's plain words)."""
    reading = read_course(c, zone_name)
    return {
        "id": c.instrument.id,
        "name": c.instrument.name,
        "topic": c.instrument.topic,
        "latest": c.latest.score,
        "max": c.instrument.max_score,
        "band": c.band_label,
        "severity": c.latest.severity,
        "latest_day": format_date(c.latest.submitted_at, zone_name),
        "baseline": c.baseline.score,
        "baseline_day": format_date(c.baseline.submitted_at, zone_name),
        "since_baseline": reading.since_baseline,
        "since_previous": reading.since_previous,
        "count": len(c.measures),
        "flags": list(reading.flags),
        "plain": reading.plain,
    }


def course_context(result: Course, zone_name: str | None, *, chart_id: str) -> dict[str, Any]:
    zone = zone_or_utc(zone_name).key
    rows: list[dict[str, Any]] = []
    for c in result.instruments:
        for m in c.measures:
            rows.append(
                {
                    "at": m.submitted_at,
                    "day": format_date(m.submitted_at, zone),
                    "what": c.instrument.name,
                    "value": f"{m.score} ({c.instrument.band(m.score).label})",
                }
            )
    for mark in result.medication_marks:
        rows.append(
            {
                "at": mark.at,
                "day": format_date(mark.at, zone),
                "what": "Medication",
                "value": mark_words(mark),
            }
        )
    rows.sort(key=lambda r: r["at"].timestamp())
    return {
        "instruments": [instrument_summary(c, zone) for c in result.instruments],
        "chart": trend_svg(result, zone, chart_id=chart_id),
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
    zone = zone_or_utc(zone_name).key
    context: dict[str, Any] = {
        "alerts": [
            {"id": a.id, "created": format_date(a.created_at, zone), "visit_id": a.visit_id}
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
            "when": format_date(
                visit.start, zone_or_utc(profile.timezone if profile else None).key
            ),
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
    views = await alerts.list_alerts(session, actor=actor, status=AlertStatus.open)
    zone = None
    if actor.role is Role.prescriber:
        profile = await session.get(PrescriberProfile, actor.user_id)
        zone = profile.timezone if profile else None
    return aiohttp_jinja2.render_template(
        "alerts.html",
        request,
        {"alerts": [alert_row(v, zone) for v in views], "timezone": zone},
    )


def alert_row(view: alerts.AlertView, zone_name: str | None) -> dict[str, Any]:
    a = view.alert
    zone = zone_or_utc(zone_name).key
    created = format_time(a.created_at, zone, with_zone=False)
    return {
        "id": a.id,
        "patient_name": view.patient_name,
        "patient_id": a.patient_id,
        "visit_id": a.visit_id,
        "created": f"{format_date(a.created_at, zone)}, {created} ({zone})",
        "escalated": a.escalated,
    }


async def open_alert_rows(
    session: AsyncSession, actor: Actor, zone_name: str | None
) -> list[dict[str, Any]]:
    """For a dashboard: the open alerts this prescriber or administrator must see."""
    views = await alerts.list_alerts(session, actor=actor, status=AlertStatus.open)
    return [alert_row(v, zone_name) for v in views]


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
                    "when": format_date(visit.start, zone_or_utc(zone_name).key),
                    "names": " and ".join(i.name for i in pending),
                }
            )
    result = await course.patient_course(session, actor=actor, patient_id=actor.user_id)
    return {
        "to_answer": to_answer,
        "my_course": course_context(result, zone_name, chart_id="my-trend"),
    }
