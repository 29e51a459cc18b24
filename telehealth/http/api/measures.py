"""Web layer: JSON API for measurement-based care: instruments, the questionnaires before a
visit, a patient's measures and their FHIR export, and safety alerts."""

from __future__ import annotations

from aiohttp import web

from telehealth.auth.sessions import QUESTIONNAIRES_PURPOSE
from telehealth.errors import NotFound
from telehealth.http.context import (
    client_address,
    db,
    now,
    path_id,
    require_actor,
    settings_of,
)
from telehealth.http.middleware import set_session_cookie
from telehealth.http.models import Error
from telehealth.http.models.measures import (
    AlertAcknowledge,
    AlertAcknowledged,
    AlertEntry,
    Alerts,
    AlertsQuery,
    AnswerOption,
    CrisisContact,
    FhirBundle,
    InstrumentItem,
    Instruments,
    LoincCodes,
    MeasureEntry,
    Measures,
    MeasuresQuery,
    PublishedInstrument,
    QuestionnaireEntry,
    QuestionnaireLink,
    QuestionnaireLinkOpened,
    Questionnaires,
    QuestionnaireSave,
    QuestionnaireSaved,
)
from telehealth.http.schema import api, parse_body, parse_query, respond
from telehealth.measures import alerts, course, fhir, questionnaires
from telehealth.measures.instruments import Instrument, packaged_instruments
from telehealth.measures.questionnaires import MeasuresPolicy, QuestionnaireView
from telehealth.visits import joinlinks

routes = web.RouteTableDef()


def measures_policy(request: web.Request) -> MeasuresPolicy:
    return MeasuresPolicy.from_settings(settings_of(request))


def published(instrument: Instrument) -> PublishedInstrument:
    options = [AnswerOption(value=o.value, label=o.label) for o in instrument.options]
    return PublishedInstrument(
        id=instrument.id,
        name=instrument.name,
        title=instrument.title,
        prompt=instrument.prompt,
        loinc=LoincCodes(panel=instrument.panel_loinc, total=instrument.total_loinc),
        items=[
            InstrumentItem(id=item.id, text=item.text, loinc=item.loinc, options=options)
            for item in instrument.items
        ],
    )


def questionnaire_entry(view: QuestionnaireView) -> QuestionnaireEntry:
    return QuestionnaireEntry(
        instrument=view.instrument.id,
        name=view.instrument.name,
        status=view.status,
        answers=view.answers,
        score=view.score,
        severity=view.severity,
        submitted_at=view.submitted_at,
    )


@routes.get("/api/instruments")
@api(responses={200: ("The instruments", Instruments)})
async def list_instruments(request: web.Request) -> web.StreamResponse:
    """The questionnaires as published (no patient data)."""
    require_actor(request)
    instruments = packaged_instruments()
    return respond(
        Instruments(
            version=instruments.version,
            instruments=[published(i) for i in instruments.instruments.values()],
        )
    )


@routes.get("/api/visits/{id}/questionnaires")
@api(responses={200: ("What this visit asks, with the answers so far", Questionnaires)})
async def get_questionnaires(request: web.Request) -> web.StreamResponse:
    """The questionnaires asked before this visit (its patient, its prescriber)."""
    actor = require_actor(request)
    _visit, views = await questionnaires.list_questionnaires(
        db(request), actor=actor, visit_id=path_id(request), policy=measures_policy(request)
    )
    return respond(Questionnaires(questionnaires=[questionnaire_entry(v) for v in views]))


@routes.put("/api/visits/{id}/questionnaires/{instrument}")
@api(
    body=QuestionnaireSave,
    responses={200: ("Saved (and scored once submitted)", QuestionnaireSaved)},
    errors={409: "already_submitted, visit_over", 422: "invalid_input (with field)"},
)
async def put_questionnaire(request: web.Request) -> web.StreamResponse:
    """Save answers so far (`submit`: false) or submit them once (`submit`: true)."""
    actor = require_actor(request)
    body = await parse_body(request, QuestionnaireSave)
    result = await questionnaires.save_answers(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        instrument_id=request.match_info["instrument"],
        answers=body.answers,
        submit=body.submit,
        policy=measures_policy(request),
        now=now(request),
    )
    return respond(
        QuestionnaireSaved(
            **dict(questionnaire_entry(result.view)),
            safety_alert=result.alert is not None,
            crisis_resources=[
                CrisisContact(name=r.name, contact=r.contact) for r in result.crisis_resources
            ],
        )
    )


@routes.get("/api/patients/{id}/measures")
@api(query=MeasuresQuery, responses={200: ("Every submitted score, oldest first", Measures)})
async def get_measures(request: web.Request) -> web.StreamResponse:
    """A patient's submitted scores (the patient; a prescriber who treats them)."""
    actor = require_actor(request)
    query = parse_query(request, MeasuresQuery)
    measures = await course.list_measures(
        db(request), actor=actor, patient_id=path_id(request), instrument=query.instrument
    )
    return respond(
        Measures(
            measures=[
                MeasureEntry(
                    id=m.response_id,
                    instrument=m.instrument,
                    visit_id=m.visit_id,
                    submitted_at=m.submitted_at,
                    score=m.score,
                    severity=m.severity,
                )
                for m in measures
            ]
        )
    )


@routes.get("/api/questionnaire-responses/{id}/fhir")
@api(responses={200: ("The Bundle, as application/fhir+json", FhirBundle)})
async def get_fhir(request: web.Request) -> web.StreamResponse:
    """One submitted questionnaire as a FHIR R4 Bundle (QuestionnaireResponse, Observations)."""
    actor = require_actor(request)
    bundle = await fhir.export_response(
        db(request),
        actor=actor,
        response_id=path_id(request),
        base_url=settings_of(request).base_url,
    )
    return web.json_response(
        FhirBundle.model_validate(bundle).model_dump(mode="json"),
        content_type="application/fhir+json",
    )


def alert_entry(view: alerts.AlertView) -> AlertEntry:
    alert = view.alert
    assert alert.id is not None
    return AlertEntry(
        id=alert.id,
        patient_id=alert.patient_id,
        patient_name=view.patient_name,
        visit_id=alert.visit_id,
        kind=alert.kind,
        created_at=alert.created_at,
        status=alert.status,
        escalated=alert.escalated,
        acknowledged_at=alert.acknowledged_at,
        action=alert.action,
    )


@routes.get("/api/alerts")
@api(query=AlertsQuery, responses={200: ("Safety alerts, newest first", Alerts)})
async def get_alerts(request: web.Request) -> web.StreamResponse:
    """Safety alerts: a prescriber's own patients', every one for an administrator."""
    actor = require_actor(request)
    query = parse_query(request, AlertsQuery)
    views = await alerts.list_alerts(db(request), actor=actor, status=query.status)
    return respond(Alerts(alerts=[alert_entry(v) for v in views]))


@routes.post("/api/alerts/{id}/acknowledge")
@api(
    body=AlertAcknowledge,
    responses={200: ("Acknowledged", AlertAcknowledged)},
    errors={409: "already_acknowledged", 422: "invalid_input (with field)"},
)
async def acknowledge_alert(request: web.Request) -> web.StreamResponse:
    """Close a safety alert with what was done and a note (its prescriber, an admin)."""
    actor = require_actor(request)
    body = await parse_body(request, AlertAcknowledge)
    alert = await alerts.acknowledge(
        db(request),
        actor=actor,
        alert_id=path_id(request),
        action=body.action,
        note=body.note,
        now=now(request),
    )
    assert alert.id is not None
    return respond(AlertAcknowledged(id=alert.id, status=alert.status, action=alert.action))


@routes.post("/api/questionnaire-link")
@api(
    body=QuestionnaireLink,
    responses={
        200: (
            "A session that may only answer that visit's questionnaires",
            QuestionnaireLinkOpened,
        ),
        404: ("not_found: any mismatch", Error),
    },
    public=True,
)
async def open_questionnaire_link(request: web.Request) -> web.StreamResponse:
    """Open the reminder email's questionnaire link with the patient's date of birth.

    The session it gives may only answer this visit's questionnaires, from booking until the
    visit ends. Any mismatch: 404."""
    body = await parse_body(request, QuestionnaireLink)
    settings = settings_of(request)
    opened = await joinlinks.open_join_link(
        db(request),
        token=body.token,
        date_of_birth=body.date_of_birth,
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
    assert opened.visit.id is not None
    response = respond(
        QuestionnaireLinkOpened(
            visit_id=opened.visit.id, next=f"/visits/{opened.visit.id}/questionnaires"
        )
    )
    set_session_cookie(request, response, opened.session_token)
    return response
