"""Domain: calendar invites (.ics) for a visit.

An invite names who the visit is with, when (in the reader's own zone, with its VTIMEZONE)
and how to join. It never carries a diagnosis, a medication or the reason for the visit:
calendars are shared, synced and shown on lock screens.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import icalendar

from telehealth.visits.models import Modality, Visit, VisitStatus

PRODID = "-//Telehealth//Visit invites//EN"


def visit_uid(visit: Visit, host: str) -> str:
    return f"visit-{visit.id}@{host}"


def build_invite(
    visit: Visit,
    *,
    with_name: str,
    timezone: str,
    join_url: str | None,
    host: str,
    now: datetime,
) -> bytes:
    """One VEVENT. Cancelled visits give METHOD:CANCEL with STATUS:CANCELLED; every change
    bumps SEQUENCE (the visit's own sequence), so calendars replace the older copy."""
    cancelled = visit.status is VisitStatus.cancelled
    zone = ZoneInfo(timezone)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "CANCEL" if cancelled else "PUBLISH")

    event = icalendar.Event()
    event.add("uid", visit_uid(visit, host))
    event.add("sequence", visit.sequence)
    event.add("dtstamp", now)
    event.add("dtstart", visit.start.astimezone(zone))
    event.add("dtend", visit.end.astimezone(zone))
    kind = "Video visit" if visit.modality is Modality.telehealth else "In-person visit"
    event.add("summary", f"{kind} with {with_name}")
    if cancelled:
        event.add("status", "CANCELLED")
        event.add("description", "This visit was cancelled. Contact the practice to rebook.")
    else:
        event.add("status", "CONFIRMED")
        if join_url:
            event.add("url", join_url)
            event.add("location", join_url)
            event.add(
                "description",
                f"Join the video visit: {join_url}\n"
                "The link opens 30 minutes before the start. You will be asked for your "
                "date of birth.",
            )
        else:
            event.add("description", "Please arrive 10 minutes early.")
    event.add("transp", "OPAQUE")
    cal.add_component(event)
    cal.add_missing_timezones()
    data: bytes = cal.to_ical()
    return data
