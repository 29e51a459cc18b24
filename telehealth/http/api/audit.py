"""Web layer: the audit trail as JSON (administrators; each reading is itself an entry)."""

from __future__ import annotations

from aiohttp import web

from telehealth import audit
from telehealth.auth import auditlog
from telehealth.http.context import db, require_actor
from telehealth.http.models.auth import AuditEntries, AuditEntryOut, AuditQuery
from telehealth.http.schema import api, parse_query, respond

routes = web.RouteTableDef()


@routes.get("/api/audit")
@api(query=AuditQuery, responses={200: ("Entries, newest first", AuditEntries)})
async def audit_search(request: web.Request) -> web.StreamResponse:
    """Search the audit trail by patient, user and time (administrators)."""
    actor = require_actor(request)
    query = parse_query(request, AuditQuery)
    entries = await auditlog.read_trail(
        db(request),
        actor=actor,
        patient_id=query.patient_id,
        user_id=query.user_id,
        start=query.start,
        end=query.end,
    )
    return respond(
        AuditEntries(entries=[AuditEntryOut.model_validate(audit.entry_fields(e)) for e in entries])
    )
