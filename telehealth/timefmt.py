"""Plumbing: times written for people and for JSON (the one home of every time format).

People read a time in their own zone with the zone named as people name it (EST, not a zone
id); JSON carries ISO 8601 with the offset.
"""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo


def iso(value: datetime | None) -> str | None:
    """ISO 8601 for JSON, or None."""
    return value.isoformat() if value else None


def format_hhmm(value: time | None) -> str:
    return "24:00" if value is None else value.strftime("%H:%M")


def _clock(local: datetime) -> str:
    """10:00 AM: the hour without a leading zero, as people write it."""
    return f"{local.hour % 12 or 12}:{local:%M} {'AM' if local.hour < 12 else 'PM'}"


def format_time(value: datetime, zone_name: str, *, with_zone: bool = True) -> str:
    """Just the time of day with the zone named: 10:00 AM EST (or 10:00 AM, where the zone
    is said once for the whole page)."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{_clock(local)} {local.tzname()}" if with_zone else _clock(local)


def format_local(value: datetime, zone_name: str) -> str:
    """A time as a person reads it in their own zone, the zone named: Tue 3 Mar, 10:00 AM EST."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{local:%a} {local.day} {local:%b}, {_clock(local)} {local.tzname()}"


def format_long(value: datetime, zone_name: str) -> str:
    """A time written out in full for a page: Tuesday 3 March 2026, 10:00 AM EST."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{local:%A} {local.day} {local:%B %Y}, {_clock(local)} {local.tzname()}"


def format_day(value: datetime, zone_name: str) -> str:
    """The calendar day written out, in the reader's zone: Tuesday 3 March 2026."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{local:%A} {local.day} {local:%B %Y}"


def format_spoken(value: datetime, zone_name: str) -> str:
    """A day and time as people say it, the zone named: Tuesday 3 March 2026 at 10:00 AM EST."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{format_day(value, zone_name)} at {_clock(local)} {local.tzname()}"


def zone_or_utc(name: str | None) -> ZoneInfo:
    """The named zone, or UTC when there is none or the name is not one."""
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def format_date(value: datetime, zone_name: str, *, short: bool = False) -> str:
    """The date in that zone, as people write it: 3 March 2026 (or 3 Mar 2026)."""
    local = value.astimezone(ZoneInfo(zone_name))
    return f"{local.day} {local:%b %Y}" if short else f"{local.day} {local:%B %Y}"
