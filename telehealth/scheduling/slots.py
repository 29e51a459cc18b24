"""Domain (pure): availability windows, free slots and time cells; time zones and DST.

Availability is kept as wall-clock ranges in the prescriber's own zone. For each local date
the ranges are turned into UTC instants, so a range keeps meaning "09:00 to 12:00 on the
clock on the wall" across daylight-saving changes. Slots step through real (UTC) time inside
each window, so a day with a repeated hour gives no duplicate instants and a day with a
skipped hour gives no instant that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CELL_MINUTES = 5
CELL = timedelta(minutes=CELL_MINUTES)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


class SlotError(ValueError):
    """A malformed availability value; the message names the problem."""


@dataclass(frozen=True)
class LocalRange:
    """A wall-clock range on one day; `end` of None means midnight at the end of the day."""

    start: time
    end: time | None

    def minutes(self) -> tuple[int, int]:
        end = 24 * 60 if self.end is None else self.end.hour * 60 + self.end.minute
        return self.start.hour * 60 + self.start.minute, end


@dataclass(frozen=True)
class WeeklyRange:
    weekday: int  # Monday is 0
    range: LocalRange


@dataclass(frozen=True)
class DateException:
    """`available` False with no range: the whole day off. False with a range: that part off.
    True with a range: extra hours on that date, added to the weekly template."""

    on: date
    available: bool
    range: LocalRange | None = None


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def contains(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


def parse_hhmm(value: object, field: str) -> tuple[int, int]:
    if not isinstance(value, str) or not _HHMM.match(value):
        raise SlotError(f"{field} must be a time as HH:MM (24-hour clock), such as 09:30.")
    hours, minutes = (int(part) for part in value.split(":"))
    if minutes % CELL_MINUTES:
        raise SlotError(f"{field} must be on a {CELL_MINUTES}-minute boundary, such as 09:05.")
    return hours, minutes


def parse_range(start: object, end: object, field: str) -> LocalRange:
    sh, sm = parse_hhmm(start, f"{field} start")
    if sh == 24:
        raise SlotError(f"{field} start must be before 24:00.")
    eh, em = parse_hhmm(end, f"{field} end")
    result = LocalRange(time(sh, sm), None if eh == 24 else time(eh, em))
    lo, hi = result.minutes()
    if hi <= lo:
        raise SlotError(f"{field} must end after it starts.")
    return result


def _subtract(ranges: list[tuple[int, int]], cut: tuple[int, int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        if cut[1] <= lo or cut[0] >= hi:
            out.append((lo, hi))
            continue
        if lo < cut[0]:
            out.append((lo, cut[0]))
        if cut[1] < hi:
            out.append((cut[1], hi))
    return out


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def local_ranges(
    on: date, weekly: Sequence[WeeklyRange], exceptions: Sequence[DateException]
) -> list[tuple[int, int]]:
    """The available minutes-of-day ranges for one local date, after its exceptions."""
    todays = [e for e in exceptions if e.on == on]
    if any(not e.available and e.range is None for e in todays):
        return []
    ranges = _merge(
        [w.range.minutes() for w in weekly if w.weekday == on.weekday()]
        + [e.range.minutes() for e in todays if e.available and e.range is not None]
    )
    for e in todays:
        if not e.available and e.range is not None:
            ranges = _subtract(ranges, e.range.minutes())
    return ranges


def wall_to_utc(on: date, minute_of_day: int, zone: ZoneInfo) -> datetime:
    """The instant the wall clock in `zone` shows that time on that date.

    A time repeated by a fall-back change means its first occurrence; a time skipped by a
    spring-forward change means the moment the clock jumps (the first instant after the gap).
    """
    base = datetime.combine(on, time(0), tzinfo=zone) + timedelta(days=minute_of_day // 1440)
    minute = minute_of_day % 1440
    wall = base.replace(hour=minute // 60, minute=minute % 60, fold=0)
    if _exists(wall):
        return wall.astimezone(UTC)
    # In a gap: walk the wall clock forward to the first time that exists.
    probe = wall
    for _ in range(48 * 60 // CELL_MINUTES):
        probe = (probe.replace(tzinfo=None) + CELL).replace(tzinfo=zone, fold=0)
        if _exists(probe):
            return probe.astimezone(UTC)
    return wall.astimezone(UTC)  # pragma: no cover - no real zone has a two-day gap


def _exists(wall: datetime) -> bool:
    back = wall.astimezone(UTC).astimezone(wall.tzinfo)
    return back.replace(tzinfo=None) == wall.replace(tzinfo=None)


def windows(
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    weekly: Sequence[WeeklyRange],
    exceptions: Sequence[DateException],
) -> list[Interval]:
    """Available UTC intervals overlapping [start, end), merged where they touch."""
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    raw: list[Interval] = []
    day = first
    while day <= last:
        for lo, hi in local_ranges(day, weekly, exceptions):
            a, b = wall_to_utc(day, lo, zone), wall_to_utc(day, hi, zone)
            if b > a:
                raw.append(Interval(a, b))
        day += timedelta(days=1)
    raw.sort(key=lambda i: i.start)
    merged: list[Interval] = []
    for interval in raw:
        if merged and interval.start <= merged[-1].end:
            last_iv = merged[-1]
            merged[-1] = Interval(last_iv.start, max(last_iv.end, interval.end))
        else:
            merged.append(interval)
    return [i for i in merged if i.end > start and i.start < end]


def floor_cell(value: datetime) -> datetime:
    value = value.astimezone(UTC).replace(second=0, microsecond=0)
    return value - timedelta(minutes=value.minute % CELL_MINUTES)


def is_cell_aligned(value: datetime) -> bool:
    return (
        value.second == 0
        and value.microsecond == 0
        and value.minute % CELL_MINUTES == 0
        and (value.utcoffset() or timedelta(0)) % CELL == timedelta(0)
    )


def cells(start: datetime, end: datetime) -> list[datetime]:
    """The fixed 5-minute cells that [start, end) touches, in UTC."""
    out: list[datetime] = []
    cell = floor_cell(start)
    end = end.astimezone(UTC)
    while cell < end:
        out.append(cell)
        cell += CELL
    return out


def free_slots(
    *,
    windows: Sequence[Interval],
    length: timedelta,
    buffer: timedelta,
    step: timedelta,
    taken_cells: set[datetime],
    not_before: datetime,
    range_start: datetime,
    range_end: datetime,
) -> list[Interval]:
    """Starts of `length` inside a window, stepping by `step` from the window's start, whose
    cells (the visit plus the buffer after it) are all free, within [range_start, range_end)."""
    step = max(CELL, step - step % CELL)
    slots: list[Interval] = []
    for window in windows:
        slot = window.start
        while slot + length <= window.end:
            if slot >= not_before and range_start <= slot < range_end:
                needed = cells(slot, slot + length + buffer)
                if not any(c in taken_cells for c in needed):
                    slots.append(Interval(slot, slot + length))
            slot += step
    return slots


def within_windows(windows: Sequence[Interval], start: datetime, end: datetime) -> bool:
    return any(w.contains(start, end) for w in windows)
