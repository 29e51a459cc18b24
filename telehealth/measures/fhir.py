"""Domain: a submitted questionnaire as FHIR R4 resources, for the record and a later FHIR API.

One Bundle (type `collection`) holds the QuestionnaireResponse (each answer coded with its
LOINC answer code) and Observations: the total score under the instrument's LOINC total code,
and one per item under the item's LOINC code, each derived from the QuestionnaireResponse.
Resources name the patient and the visit by id only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telehealth import audit
from telehealth.audit import Action, Outcome
from telehealth.auth.policy import Actor
from telehealth.db import is_row_id
from telehealth.errors import NotFound
from telehealth.measures.instruments import Instrument, InstrumentSet, packaged_instruments
from telehealth.measures.models import QuestionnaireResponse, ResponseStatus
from telehealth.visits.medlist import can_see_patient_chart

LOINC = "http://loinc.org"
SURVEY = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "survey",
            "display": "Survey",
        }
    ]
}


def _coding(code: str, display: str) -> dict[str, Any]:
    return {"system": LOINC, "code": code, "display": display}


def bundle_for(
    response: QuestionnaireResponse, instrument: Instrument, *, base_url: str
) -> dict[str, Any]:
    """The FHIR R4 Bundle for one submitted response (pure: no database)."""
    assert response.submitted_at is not None and response.score is not None
    when = response.submitted_at.isoformat()
    qr_id = f"qr-{response.id}"
    subject = {"reference": f"Patient/{response.patient_id}"}
    encounter = {"reference": f"Encounter/{response.visit_id}"}
    qr_ref = {"reference": f"QuestionnaireResponse/{qr_id}"}
    items = []
    observations: list[dict[str, Any]] = []
    for item in instrument.items:
        value = response.answers.get(item.id)
        if value is None:
            continue
        option = instrument.option(int(value))
        answer = _coding(option.loinc, option.label)
        items.append(
            {
                "linkId": item.id,
                "text": item.text,
                "answer": [{"valueCoding": answer}],
            }
        )
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{response.id}-{item.id}",
                "status": "final",
                "category": [SURVEY],
                "code": {"coding": [_coding(item.loinc, item.text)], "text": item.text},
                "subject": subject,
                "encounter": encounter,
                "effectiveDateTime": when,
                "valueCodeableConcept": {"coding": [answer], "text": option.label},
                "derivedFrom": [qr_ref],
            }
        )
    band = instrument.band(response.score)
    total = {
        "resourceType": "Observation",
        "id": f"obs-{response.id}-total",
        "status": "final",
        "category": [SURVEY],
        "code": {
            "coding": [_coding(instrument.total_loinc, f"{instrument.name} total score")],
            "text": f"{instrument.name} total score",
        },
        "subject": subject,
        "encounter": encounter,
        "effectiveDateTime": when,
        "valueInteger": response.score,
        "interpretation": [{"text": band.label}],
        "derivedFrom": [qr_ref],
        "hasMember": [{"reference": f"Observation/{o['id']}"} for o in observations],
    }
    questionnaire = {
        "resourceType": "QuestionnaireResponse",
        "id": qr_id,
        "questionnaire": f"{base_url.rstrip('/')}/fhir/Questionnaire/{instrument.id}",
        "status": "completed",
        "subject": subject,
        "encounter": encounter,
        "authored": when,
        "item": items,
        "extension": [
            {
                "url": f"{base_url.rstrip('/')}/fhir/StructureDefinition/instrument-panel",
                "valueCoding": _coding(instrument.panel_loinc, instrument.title),
            }
        ],
    }
    resources: list[dict[str, Any]] = [questionnaire, total, *observations]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": when,
        "entry": [{"fullUrl": f"urn:uuid:{_urn(r['id'])}", "resource": r} for r in resources],
    }


def _urn(local_id: str) -> str:
    """A stable UUID for a local id (collection bundles need absolute fullUrls)."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"telehealth:{local_id}"))


async def export_response(
    session: AsyncSession,
    *,
    actor: Actor,
    response_id: int,
    base_url: str,
    instruments: InstrumentSet | None = None,
) -> dict[str, Any]:
    """The Bundle of one submitted response, for the patient or a prescriber who treats
    them; audited as an export. Drafts and anything the caller may not see: NotFound."""
    instruments = instruments or packaged_instruments()
    row = await session.get(QuestionnaireResponse, response_id) if is_row_id(response_id) else None
    allowed = (
        row is not None
        and row.status is ResponseStatus.submitted
        and await can_see_patient_chart(session, actor, row.patient_id)
    )
    instrument = instruments.get(row.instrument) if row is not None else None
    if not allowed or row is None or instrument is None:
        audit.record(
            session,
            Action.access_denied,
            "questionnaire_response",
            response_id,
            outcome=Outcome.failure,
            patient_id=row.patient_id if row is not None else None,
            durable=True,
        )
        raise NotFound()
    audit.record(
        session,
        Action.export,
        "questionnaire_response",
        row.id,
        patient_id=row.patient_id,
        detail={"format": "fhir-r4", "instrument": row.instrument},
    )
    return bundle_for(row, instrument, base_url=base_url)
