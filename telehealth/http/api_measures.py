"""Web layer: JSON API for measurement-based care: instruments, the questionnaires before a
visit, a patient's measures and their FHIR export, and safety alerts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth.auth.sessions import QUESTIONNAIRES_PURPOSE
from telehealth.errors import InvalidInput, NotFound
from telehealth.http.context import (
    client_address,
    db,
    json_body,
    now,
    path_id,
    require_actor,
    settings_of,
)
from telehealth.http.middleware import set_session_cookie
from telehealth.measures import alerts, course, fhir, questionnaires
from telehealth.measures.instruments import Instrument, packaged_instruments
from telehealth.measures.questionnaires import MeasuresPolicy, QuestionnaireView
from telehealth.signaling.server import alert_after_commit
from telehealth.visits import joinlinks

routes = web.RouteTableDef()


def measures_policy(request: web.Request) -> MeasuresPolicy:
    return MeasuresPolicy.from_settings(settings_of(request))


def instrument_json(instrument: Instrument) -> dict[str, Any]:
    return {
        "id": instrument.id,
        "name": instrument.name,
        "title": instrument.title,
        "prompt": instrument.prompt,
        "loinc": {"panel": instrument.panel_loinc, "total": instrument.total_loinc},
        "items": [
            {
                "id": item.id,
                "text": item.text,
                "loinc": item.loinc,
                "options": [{"value": o.value, "label": o.label} for o in instrument.options],
            }
            for item in instrument.items
        ],
    }


def questionnaire_json(view: QuestionnaireView) -> dict[str, Any]:
    response = view.response
    submitted = response is not None and response.submitted_at is not None
    return {
        "instrument": view.instrument.id,
        "name": view.instrument.name,
        "status": view.status,
        "answers": view.answers,
        "score": response.score if submitted and response else None,
        "severity": response.severity if submitted and response else None,
        "submitted_at": (
            response.submitted_at.isoformat() if response and response.submitted_at else None
        ),
    }


@routes.get("/api/instruments")
async def list_instruments(request: web.Request) -> web.StreamResponse:
    """The questionnaires as published (no patient data)."""
    require_actor(request)
    instruments = packaged_instruments()
    return web.json_response(
        {
            "version": instruments.version,
            "instruments": [instrument_json(i) for i in instruments.instruments.values()],
        }
    )


@routes.get("/api/visits/{id}/questionnaires")
async def get_questionnaires(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    _visit, views = await questionnaires.list_questionnaires(
        db(request), actor=actor, visit_id=path_id(request), policy=measures_policy(request)
    )
    return web.json_response({"questionnaires": [questionnaire_json(v) for v in views]})


@routes.put("/api/visits/{id}/questionnaires/{instrument}")
async def put_questionnaire(request: web.Request) -> web.StreamResponse:
    """Save answers so far (`submit`: false) or submit them once (`submit`: true)."""
    actor = require_actor(request)
    body = await json_body(request)
    submit = body.get("submit", False)
    if not isinstance(submit, bool):
        raise InvalidInput("submit must be true or false.", field="submit")
    result = await questionnaires.save_answers(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        instrument_id=request.match_info["instrument"],
        answers=body.get("answers", {}),
        submit=submit,
        policy=measures_policy(request),
        now=now(request),
    )
    if result.alert is not None and result.alert.id is not None:
        alert_after_commit(request, result.alert.id)
    return web.json_response(
        {
            **questionnaire_json(result.view),
            "safety_alert": result.alert is not None,
            "crisis_resources": [
                {"name": r.name, "contact": r.contact} for r in result.crisis_resources
            ],
        }
    )


@routes.get("/api/patients/{id}/measures")
async def get_measures(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    instrument = request.query.get("instrument") or None
    measures = await course.list_measures(
        db(request), actor=actor, patient_id=path_id(request), instrument=instrument
    )
    return web.json_response(
        {
            "measures": [
                {
                    "id": m.response_id,
                    "instrument": m.instrument,
                    "visit_id": m.visit_id,
                    "submitted_at": m.submitted_at.isoformat(),
                    "score": m.score,
                    "severity": m.severity,
                }
                for m in measures
            ]
        }
    )


@routes.get("/api/questionnaire-responses/{id}/fhir")
async def get_fhir(request: web.Request) -> web.StreamResponse:
    """One submitted questionnaire as a FHIR R4 Bundle (QuestionnaireResponse, Observations)."""
    actor = require_actor(request)
    bundle = await fhir.export_response(
        db(request),
        actor=actor,
        response_id=path_id(request),
        base_url=settings_of(request).base_url,
    )
    return web.json_response(bundle, content_type="application/fhir+json")


def alert_json(view: alerts.AlertView) -> dict[str, Any]:
    alert = view.alert
    return {
        "id": alert.id,
        "patient_id": alert.patient_id,
        "patient_name": view.patient_name,
        "visit_id": alert.visit_id,
        "kind": alert.kind.value,
        "created_at": alert.created_at.isoformat(),
        "status": alert.status.value,
        "escalated": alert.escalated_at is not None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "action": alert.action,
    }


@routes.get("/api/alerts")
async def get_alerts(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    views = await alerts.list_alerts(
        db(request), actor=actor, status=request.query.get("status") or None
    )
    return web.json_response({"alerts": [alert_json(v) for v in views]})


@routes.post("/api/alerts/{id}/acknowledge")
async def acknowledge_alert(request: web.Request) -> web.StreamResponse:
    actor = require_actor(request)
    body = await json_body(request)
    alert = await alerts.acknowledge(
        db(request),
        actor=actor,
        alert_id=path_id(request),
        action=body.get("action"),
        note=body.get("note"),
        now=now(request),
    )
    return web.json_response({"id": alert.id, "status": alert.status.value, "action": alert.action})


@routes.post("/api/questionnaire-link")
async def open_questionnaire_link(request: web.Request) -> web.StreamResponse:
    """The reminder email's link: with the date of birth, a session that may only answer this
    visit's questionnaires, from booking until the visit ends. Any mismatch: 404."""
    body = await json_body(request)
    settings = settings_of(request)
    opened = await joinlinks.open_join_link(
        db(request),
        token=str(body.get("token", "")),
        date_of_birth=str(body.get("date_of_birth", "")),
        now=now(request),
        secret=settings.secret_key,
        max_attempts=settings.join_attempts,
        source_address=client_address(request),
        purpose=QUESTIONNAIRES_PURPOSE,
    )
    if isinstance(opened, joinlinks.JoinRefused):
        # The failed try is kept (the middleware commits a response, not an exception).
        return web.json_response(
            {
                "error": {
                    "code": NotFound.code,
                    "message": "That link and date of birth do not match a visit. Check the "
                    "date, or call the practice.",
                }
            },
            status=404,
        )
    response = web.json_response(
        {"visit_id": opened.visit.id, "next": f"/visits/{opened.visit.id}/questionnaires"}
    )
    set_session_cookie(request, response, opened.session_token)
    return response
