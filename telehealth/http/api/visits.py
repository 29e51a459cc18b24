"""Web layer: JSON API for visit records: notes, orders, the medication list, evaluations.

Handlers translate: the body into the models of `telehealth.http.models.visits`, the call
into one service of `telehealth.visits`, its result into a response model.
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from telehealth.auth.models import Role
from telehealth.auth.policy import ensure_role
from telehealth.http.context import db, now, path_id, require_actor, settings_of
from telehealth.http.models import visits as models
from telehealth.http.schema import api, parse_body, parse_query, respond
from telehealth.notify import announce
from telehealth.visits import evaluations, medlist, notes, orders, summary
from telehealth.visits.catalogue_file import packaged_catalogue
from telehealth.visits.gate.policy import GatePolicy, InPersonRequired
from telehealth.visits.models import MedicationOrder, NoteAddendum

routes = web.RouteTableDef()

SEARCH_LIMIT = 20
MAX_QUERY = 100


def in_person_booking_url(patient_id: int) -> str:
    """Where a prescriber the gate refused books the in-person visit that would open it, on
    their own calendar (the page opens in a new tab, so the call stays where it is)."""
    return f"/visits/new?{urlencode({'patient_id': patient_id, 'modality': 'in_person'})}"


def policy_of(request: web.Request) -> GatePolicy:
    return GatePolicy.from_settings(settings_of(request))


def addendum_of(addendum: NoteAddendum) -> models.Addendum:
    return models.Addendum(
        id=addendum.id,
        text=addendum.text,
        author_id=addendum.author_id,
        signed_at=addendum.signed_at,
    )


def order_of(order: MedicationOrder) -> models.Order:
    return models.Order(
        id=order.id,
        visit_id=order.visit_id,
        medication_id=order.medication_id,
        name=order.medication_name,
        schedule=order.schedule,
        dose=order.dose,
        route=order.route,
        frequency=order.frequency,
        quantity=order.quantity,
        refills=order.refills,
        instructions=order.instructions,
        status=order.status.value,
        created_at=order.created_at,
    )


# --- notes --------------------------------------------------------------------------------


@routes.get("/api/visits/{id}/note")
@api(responses={200: ("The note", models.Note)}, errors={404: "not_found"})
async def get_note(request: web.Request) -> web.StreamResponse:
    """The note: draft or signed for its prescriber, the signed summary for its patient."""
    actor = require_actor(request)
    _visit, view = await notes.read_note(db(request), actor=actor, visit_id=path_id(request))
    # Only the prescriber's view carries revisions and permissions (the service decides).
    working = (
        {}
        if view.permissions is None
        else {
            "revisions": view.revisions,
            "permissions": models.NotePermissions.model_validate(
                view.permissions, from_attributes=True
            ),
        }
    )
    note = models.Note(
        visit_id=view.visit_id,
        status=view.status.value,
        **view.sections,
        version=view.version,
        updated_at=view.updated_at,
        signed_at=view.signed_at,
        addenda=[addendum_of(a) for a in view.addenda],
        **working,
    )
    return respond(note, omit_unset=True)


@routes.put("/api/visits/{id}/note")
@api(
    body=models.NoteSave,
    responses={200: ("Saved", models.NoteSaved)},
    errors={409: "stale_version (with the current note), note_signed", 422: "invalid_input"},
)
async def put_note(request: web.Request) -> web.StreamResponse:
    """Save the draft, based on `version`; 409 stale_version carries the current text."""
    actor = require_actor(request)
    body = await parse_body(request, models.NoteSave)
    note = await notes.save_note(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        text=body.text(),
        version=body.version,
        now=now(request),
    )
    return respond(models.NoteSaved(version=note.version, updated_at=note.updated_at))


@routes.post("/api/visits/{id}/note/sign")
@api(
    body=models.NoteSign,
    responses={200: ("Signed", models.NoteSigned)},
    errors={409: "note_empty, note_signed, stale_version"},
)
async def sign_note(request: web.Request) -> web.StreamResponse:
    """Sign and lock the note (optionally only if it is still at `version`)."""
    actor = require_actor(request)
    body = await parse_body(request, models.NoteSign)
    note = await announce.sign_note_and_announce(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        version=body.version,
        now=now(request),
    )
    return respond(
        models.NoteSigned(status=note.status.value, version=note.version, signed_at=note.signed_at)
    )


@routes.get("/api/visits/{id}/summary")
@api(responses={200: ("The after-visit summary", models.Summary)}, errors={404: "not_found"})
async def get_summary(request: web.Request) -> web.StreamResponse:
    """The after-visit summary, written for the patient, once the note is signed."""
    actor = require_actor(request)
    found = await summary.read_summary(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    return respond(summary_of(found))


def summary_of(found: summary.VisitSummary) -> models.Summary:
    upcoming = found.next_visit
    return models.Summary(
        visit_id=found.visit_id,
        prescriber=found.prescriber,
        date=found.date,
        start=found.start,
        signed_at=found.signed_at,
        instructions=found.instructions,
        medications=[
            models.SummaryMedication(
                name=m.name,
                dose=m.dose,
                route=m.route,
                frequency=m.frequency,
                instructions=m.instructions,
                change=m.change.value,
            )
            for m in found.medications
        ],
        next_visit=None
        if upcoming is None
        else models.NextVisit(
            id=upcoming.visit_id,
            start=upcoming.start,
            prescriber=upcoming.prescriber,
            modality="telehealth" if upcoming.video else "in_person",
        ),
    )


@routes.post("/api/visits/{id}/note/addenda")
@api(
    body=models.AddendumNew,
    responses={201: ("Added", models.Addendum)},
    errors={409: "note_not_signed", 422: "invalid_input"},
)
async def add_addendum(request: web.Request) -> web.StreamResponse:
    """Add a signed addendum to a signed note."""
    actor = require_actor(request)
    body = await parse_body(request, models.AddendumNew)
    addendum = await notes.add_addendum(
        db(request), actor=actor, visit_id=path_id(request), text=body.text, now=now(request)
    )
    return respond(addendum_of(addendum), status=201)


# --- catalogue and orders ----------------------------------------------------------------


@routes.get("/api/medications")
@api(query=models.MedicationSearch, responses={200: ("Matches", models.MedicationsFound)})
async def search_medications(request: web.Request) -> web.StreamResponse:
    """Search the medication catalogue by name, brand or ingredient."""
    actor = require_actor(request)
    ensure_role(actor, Role.prescriber)
    query = parse_query(request, models.MedicationSearch)
    catalogue = packaged_catalogue()
    found = catalogue.search(query.q[:MAX_QUERY], SEARCH_LIMIT)
    return respond(
        models.MedicationsFound(
            medications=[
                models.Medication(
                    id=p.id,
                    name=p.name,
                    federal_schedule=p.federal_schedule.value if p.federal_schedule else None,
                    form=p.form,
                    strengths=list(p.strengths),
                )
                for p in found
            ],
            catalogue_version=catalogue.version,
        )
    )


@routes.post("/api/visits/{id}/orders")
@api(
    body=models.OrderNew,
    responses={201: ("Ordered", models.OrderPlaced)},
    errors={
        403: "in_person_required (with schedule, jurisdiction, rule, book_url)",
        409: "visit_not_checked_in, visit_closed",
        422: "invalid_input, unknown_medication, refills_not_allowed",
    },
)
async def place_order(request: web.Request) -> web.StreamResponse:
    """Order a medication; refused with 403 in_person_required by the in-person gate."""
    actor = require_actor(request)
    body = await parse_body(request, models.OrderNew)
    try:
        order, decision = await orders.place_order(
            db(request),
            actor=actor,
            visit_id=path_id(request),
            order=body.order(),
            now=now(request),
            policy=policy_of(request),
            catalogue=packaged_catalogue(),
        )
    except InPersonRequired as refusal:
        if refusal.book_in_person_with is not None:
            refusal.extra["book_url"] = in_person_booking_url(refusal.book_in_person_with)
        raise
    placed = models.OrderPlaced(
        **order_of(order).model_dump(),
        gate=models.GateOutcome(rule=decision.rule.value, jurisdiction=decision.jurisdiction),
    )
    return respond(placed, status=201)


@routes.get("/api/visits/{id}/orders")
@api(responses={200: ("The visit's orders", models.Orders)}, errors={404: "not_found"})
async def list_orders(request: web.Request) -> web.StreamResponse:
    """The orders placed on this visit."""
    actor = require_actor(request)
    _visit, found = await orders.list_orders(db(request), actor=actor, visit_id=path_id(request))
    return respond(models.Orders(orders=[order_of(o) for o in found]))


# --- the patient's medication list and in-person evaluations -------------------------------


@routes.get("/api/patients/{id}/medications")
@api(responses={200: ("The medication list", models.MedicationList)}, errors={404: "not_found"})
async def patient_medications(request: web.Request) -> web.StreamResponse:
    """The patient's medication list with its history, and allergies."""
    actor = require_actor(request)
    result = await medlist.list_medications(db(request), actor=actor, patient_id=path_id(request))
    return respond(
        models.MedicationList(
            patient_id=result.patient_id,
            allergies=result.allergies,
            medications=[
                models.MedicationLine(
                    id=line.medication.id,
                    medication_id=line.medication.medication_id,
                    name=line.medication.medication_name,
                    dose=line.medication.dose,
                    route=line.medication.route,
                    frequency=line.medication.frequency,
                    status=line.medication.status.value,
                    started_at=line.medication.started_at,
                    stopped_at=line.medication.stopped_at,
                    history=[
                        models.MedicationEvent(
                            kind=e.kind,
                            dose=e.dose,
                            frequency=e.frequency,
                            order_id=e.order_id,
                            at=e.at,
                            by_id=e.actor_id,
                            by=result.actor_names.get(e.actor_id, ""),
                        )
                        for e in line.history
                    ],
                )
                for line in result.lines
            ],
        )
    )


@routes.post("/api/patients/{id}/medications/{med_id}/stop")
@api(
    responses={200: ("Stopped", models.MedicationStopped)},
    errors={404: "not_found", 409: "already_stopped"},
)
async def stop_medication(request: web.Request) -> web.StreamResponse:
    """Stop a current medication (recorded in its history)."""
    actor = require_actor(request)
    line = await medlist.stop_medication(
        db(request),
        actor=actor,
        patient_id=path_id(request),
        medication_id=path_id(request, "med_id"),
        now=now(request),
    )
    return respond(
        models.MedicationStopped(id=line.id, status=line.status.value, stopped_at=line.stopped_at)
    )


@routes.post("/api/patients/{id}/in-person-evaluations")
@api(
    body=models.EvaluationNew,
    responses={201: ("Recorded", models.EvaluationRecorded)},
    errors={404: "not_found", 422: "invalid_input"},
)
async def record_evaluation(request: web.Request) -> web.StreamResponse:
    """Record an earlier in-person evaluation of the patient by the caller."""
    actor = require_actor(request)
    body = await parse_body(request, models.EvaluationNew)
    evaluation = await evaluations.record_in_person_evaluation(
        db(request),
        actor=actor,
        patient_id=path_id(request),
        evaluated_on=body.date,
        location=body.location,
        attestation=body.attestation,
        now=now(request),
    )
    return respond(
        models.EvaluationRecorded(
            id=evaluation.id,
            date=evaluation.evaluated_on,
            prescriber_id=evaluation.prescriber_id,
        ),
        status=201,
    )
