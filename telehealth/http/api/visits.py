"""Web layer: JSON API for visit records: notes, orders, the medication list, evaluations."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from telehealth.auth.models import Role
from telehealth.auth.policy import ensure_role
from telehealth.errors import InvalidInput
from telehealth.http.context import db, json_body, now, path_id, require_actor, settings_of
from telehealth.notify import announce
from telehealth.visits import evaluations, medlist, notes, orders, summary
from telehealth.visits.catalogue_file import packaged_catalogue
from telehealth.visits.gate.policy import GatePolicy, InPersonRequired
from telehealth.visits.models import MedicationOrder, NoteAddendum

routes = web.RouteTableDef()

SEARCH_LIMIT = 20


def in_person_booking_url(patient_id: int) -> str:
    """Where a prescriber the gate refused books the in-person visit that would open it, on
    their own calendar (the page opens in a new tab, so the call stays where it is)."""
    return f"/visits/new?{urlencode({'patient_id': patient_id, 'modality': 'in_person'})}"


def policy_of(request: web.Request) -> GatePolicy:
    return GatePolicy.from_settings(settings_of(request))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _version(body: dict[str, Any], *, required: bool) -> int | None:
    value = body.get("version")
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput(
            "Send the version of the note your edit is based on (0 for a new note).",
            field="version",
        )
    return value


def addendum_json(addendum: NoteAddendum) -> dict[str, Any]:
    return {
        "id": addendum.id,
        "text": addendum.text,
        "author_id": addendum.author_id,
        "signed_at": _iso(addendum.signed_at),
    }


def order_json(order: MedicationOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "visit_id": order.visit_id,
        "medication_id": order.medication_id,
        "name": order.medication_name,
        "schedule": order.schedule,
        "dose": order.dose,
        "route": order.route,
        "frequency": order.frequency,
        "quantity": order.quantity,
        "refills": order.refills,
        "instructions": order.instructions,
        "status": order.status.value,
        "created_at": _iso(order.created_at),
    }


# --- notes --------------------------------------------------------------------------------


@routes.get("/api/visits/{id}/note")
async def get_note(request: web.Request) -> web.StreamResponse:
    """The note: draft or signed for its prescriber, the signed summary for its patient."""
    actor = require_actor(request)
    visit, view = await notes.read_note(db(request), actor=actor, visit_id=path_id(request))
    body: dict[str, Any] = {
        "visit_id": view.visit_id,
        "status": view.status.value,
        **view.sections,
        "version": view.version,
        "updated_at": _iso(view.updated_at),
        "signed_at": _iso(view.signed_at),
        "addenda": [addendum_json(a) for a in view.addenda],
    }
    if actor.role is Role.prescriber:
        body["revisions"] = view.revisions
        body["permissions"] = notes.note_permissions(actor, visit, view.status)
    return web.json_response(body)


@routes.put("/api/visits/{id}/note")
async def put_note(request: web.Request) -> web.StreamResponse:
    """Save the draft, based on `version`; 409 stale_version carries the current text."""
    actor = require_actor(request)
    body = await json_body(request)
    version = _version(body, required=True)
    assert version is not None
    note = await notes.save_note(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        fields=body,
        version=version,
        now=now(request),
    )
    return web.json_response({"version": note.version, "updated_at": _iso(note.updated_at)})


@routes.post("/api/visits/{id}/note/sign")
async def sign_note(request: web.Request) -> web.StreamResponse:
    """Sign and lock the note (optionally only if it is still at `version`)."""
    actor = require_actor(request)
    body = await json_body(request)
    note = await announce.sign_note_and_announce(
        db(request),
        actor=actor,
        visit_id=path_id(request),
        version=_version(body, required=False),
        now=now(request),
    )
    return web.json_response(
        {"status": note.status.value, "version": note.version, "signed_at": _iso(note.signed_at)}
    )


@routes.get("/api/visits/{id}/summary")
async def get_summary(request: web.Request) -> web.StreamResponse:
    """The after-visit summary, written for the patient, once the note is signed."""
    actor = require_actor(request)
    found = await summary.read_summary(
        db(request), actor=actor, visit_id=path_id(request), now=now(request)
    )
    return web.json_response(summary_json(found))


def summary_json(found: summary.VisitSummary) -> dict[str, Any]:
    upcoming = found.next_visit
    return {
        "visit_id": found.visit_id,
        "prescriber": found.prescriber,
        "date": found.date.isoformat(),
        "start": found.start.isoformat(),
        "signed_at": found.signed_at.isoformat(),
        "instructions": found.instructions,
        "medications": [
            {
                "name": m.name,
                "dose": m.dose,
                "route": m.route,
                "frequency": m.frequency,
                "instructions": m.instructions,
                "change": m.change.value,
            }
            for m in found.medications
        ],
        "next_visit": None
        if upcoming is None
        else {
            "id": upcoming.visit_id,
            "start": upcoming.start.isoformat(),
            "prescriber": upcoming.prescriber,
            "modality": "telehealth" if upcoming.video else "in_person",
        },
    }


@routes.post("/api/visits/{id}/note/addenda")
async def add_addendum(request: web.Request) -> web.StreamResponse:
    """Add a signed addendum to a signed note."""
    actor = require_actor(request)
    body = await json_body(request)
    addendum = await notes.add_addendum(
        db(request), actor=actor, visit_id=path_id(request), text=body.get("text"), now=now(request)
    )
    return web.json_response(addendum_json(addendum), status=201)


# --- catalogue and orders ----------------------------------------------------------------


@routes.get("/api/medications")
async def search_medications(request: web.Request) -> web.StreamResponse:
    """Search the medication catalogue by name, brand or ingredient."""
    actor = require_actor(request)
    ensure_role(actor, Role.prescriber)
    query = request.query.get("q", "")[:100]
    found = packaged_catalogue().search(query, SEARCH_LIMIT)
    return web.json_response(
        {
            "medications": [
                {
                    "id": p.id,
                    "name": p.name,
                    "federal_schedule": p.federal_schedule.value if p.federal_schedule else None,
                    "form": p.form,
                    "strengths": list(p.strengths),
                }
                for p in found
            ],
            "catalogue_version": packaged_catalogue().version,
        }
    )


@routes.post("/api/visits/{id}/orders")
async def place_order(request: web.Request) -> web.StreamResponse:
    """Order a medication; refused with 403 in_person_required by the in-person gate."""
    actor = require_actor(request)
    body = await json_body(request)
    try:
        order, decision = await orders.place_order(
            db(request),
            actor=actor,
            visit_id=path_id(request),
            data=body,
            now=now(request),
            policy=policy_of(request),
            catalogue=packaged_catalogue(),
        )
    except InPersonRequired as refusal:
        if refusal.book_in_person_with is not None:
            refusal.extra["book_url"] = in_person_booking_url(refusal.book_in_person_with)
        raise
    return web.json_response(
        {
            **order_json(order),
            "gate": {"rule": decision.rule.value, "jurisdiction": decision.jurisdiction},
        },
        status=201,
    )


@routes.get("/api/visits/{id}/orders")
async def list_orders(request: web.Request) -> web.StreamResponse:
    """The orders placed on this visit."""
    actor = require_actor(request)
    _visit, found = await orders.list_orders(db(request), actor=actor, visit_id=path_id(request))
    return web.json_response({"orders": [order_json(o) for o in found]})


# --- the patient's medication list and in-person evaluations -------------------------------


@routes.get("/api/patients/{id}/medications")
async def patient_medications(request: web.Request) -> web.StreamResponse:
    """The patient's medication list with its history, and allergies."""
    actor = require_actor(request)
    result = await medlist.list_medications(db(request), actor=actor, patient_id=path_id(request))
    return web.json_response(
        {
            "patient_id": result.patient_id,
            "allergies": result.allergies,
            "medications": [
                {
                    "id": line.medication.id,
                    "medication_id": line.medication.medication_id,
                    "name": line.medication.medication_name,
                    "dose": line.medication.dose,
                    "route": line.medication.route,
                    "frequency": line.medication.frequency,
                    "status": line.medication.status.value,
                    "started_at": _iso(line.medication.started_at),
                    "stopped_at": _iso(line.medication.stopped_at),
                    "history": [
                        {
                            "kind": e.kind,
                            "dose": e.dose,
                            "frequency": e.frequency,
                            "order_id": e.order_id,
                            "at": _iso(e.at),
                            "by_id": e.actor_id,
                            "by": result.actor_names.get(e.actor_id, ""),
                        }
                        for e in line.history
                    ],
                }
                for line in result.lines
            ],
        }
    )


@routes.post("/api/patients/{id}/medications/{med_id}/stop")
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
    return web.json_response(
        {"id": line.id, "status": line.status.value, "stopped_at": _iso(line.stopped_at)}
    )


@routes.post("/api/patients/{id}/in-person-evaluations")
async def record_evaluation(request: web.Request) -> web.StreamResponse:
    """Record an earlier in-person evaluation of the patient by the caller."""
    actor = require_actor(request)
    body = await json_body(request)
    evaluation = await evaluations.record_in_person_evaluation(
        db(request),
        actor=actor,
        patient_id=path_id(request),
        data=body,
        now=now(request),
    )
    return web.json_response(
        {
            "id": evaluation.id,
            "date": evaluation.evaluated_on.isoformat(),
            "prescriber_id": evaluation.prescriber_id,
        },
        status=201,
    )
