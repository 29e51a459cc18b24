"""Web layer: the administrator's audit log page and its CSV export."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from telehealth.auth import auditlog
from telehealth.auth.models import Role
from telehealth.auth.policy import ensure_role
from telehealth.errors import InvalidInput
from telehealth.http.context import db, int_param, parse_when, require_actor, within_calendar

routes = web.RouteTableDef()


def _day_or_time(value: str | None, name: str) -> datetime | None:
    """A form field that takes a day (YYYY-MM-DD, a UTC day; "end" includes it) or an ISO
    date-time with offset."""
    try:
        day = date.fromisoformat(value) if value and len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        return parse_when(value, name)
    midnight = datetime.combine(day, time(), tzinfo=UTC)
    return within_calendar(midnight, name, plus=timedelta(days=1 if name == "end" else 0))


async def _audit_rows(request: web.Request, *, export: bool) -> list[auditlog.AuditRow]:
    actor = require_actor(request)
    q = request.query
    try:
        patient_id = int_param(q.get("patient_id"), "patient_id", required=False)
        user_id = int_param(q.get("user_id"), "user_id", required=False)
        start, end = _day_or_time(q.get("start"), "start"), _day_or_time(q.get("end"), "end")
    except InvalidInput:
        ensure_role(actor, Role.admin)  # a bad query shows its error to an administrator only
        raise
    return await auditlog.read_audit_log(
        db(request),
        actor=actor,
        patient=q.get("patient") or None,
        patient_id=patient_id,
        user_id=user_id,
        start=start,
        end=end,
        export=export,
    )


@routes.get("/admin/audit")
@aiohttp_jinja2.template("admin_audit.html")
async def admin_audit(request: web.Request) -> dict[str, Any]:
    rows: list[auditlog.AuditRow] = []
    error = None
    try:
        rows = await _audit_rows(request, export=False)
    except InvalidInput as exc:
        error = exc.message
    query = dict(request.query)
    return {
        "rows": rows,
        "query": query,
        "error": error,
        "csv_url": "/admin/audit.csv" + (f"?{urlencode(query)}" if query else ""),
    }


@routes.get("/admin/audit.csv")
async def admin_audit_csv(request: web.Request) -> web.StreamResponse:
    """The same search as the page, as a CSV file; the export is itself audited."""
    rows = await _audit_rows(request, export=True)
    return web.Response(
        text=auditlog.as_csv(rows),
        content_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="audit-log.csv"',
            "Cache-Control": "no-store",
        },
    )
