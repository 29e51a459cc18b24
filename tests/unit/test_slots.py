"""Pure slot arithmetic: availability in the prescriber's zone, slots in UTC, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telehealth import timefmt
from telehealth.scheduling import slots as sl

NY = ZoneInfo("America/New_York")
LA = "America/Los_Angeles"


def weekdays(start: str, end: str) -> list[sl.WeeklyRange]:
    return [sl.WeeklyRange(d, sl.parse_range(start, end, "weekly")) for d in range(7)]


def slots_between(
    start: datetime,
    end: datetime,
    weekly: list[sl.WeeklyRange],
    exceptions: list[sl.DateException] | None = None,
    *,
    minutes: int = 60,
    step: int = 60,
    buffer: int = 0,
    taken: set[datetime] | None = None,
) -> list[datetime]:
    wins = sl.windows(start, end, NY, weekly, exceptions or [])
    found = sl.free_slots(
        windows=wins,
        length=timedelta(minutes=minutes),
        buffer=timedelta(minutes=buffer),
        step=timedelta(minutes=step),
        taken_cells=taken or set(),
        not_before=start,
        range_start=start,
        range_end=end,
    )
    return [s.start for s in found]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_nine_in_new_york_is_fourteen_utc_before_the_fall_change_and_fifteen_after():
    found = slots_between(utc(2026, 10, 30), utc(2026, 11, 4), weekdays("09:00", "12:00"))
    firsts = {s.astimezone(NY).date(): s for s in found if s.astimezone(NY).hour == 9}
    assert firsts[date(2026, 10, 31)] == utc(2026, 10, 31, 13)  # EDT, -04:00
    assert firsts[date(2026, 11, 2)] == utc(2026, 11, 2, 14)  # EST, -05:00
    assert all(s.astimezone(NY).time() in (time(9), time(10), time(11)) for s in found)


def test_spring_forward_moves_the_utc_time_the_other_way():
    found = slots_between(utc(2026, 3, 6), utc(2026, 3, 10), weekdays("09:00", "10:00"))
    assert utc(2026, 3, 6, 14) in found  # Friday, EST
    assert utc(2026, 3, 9, 13) in found  # Monday, EDT


def test_a_night_range_over_the_repeated_hour_gives_each_instant_once():
    found = slots_between(
        utc(2026, 11, 1, 0), utc(2026, 11, 2, 0), weekdays("00:00", "03:00"), minutes=30, step=30
    )
    assert len(found) == len(set(found))
    # 00:00 EDT to 03:00 EST is four real hours: eight half-hour slots.
    assert len(found) == 8
    walls = [s.astimezone(NY).strftime("%H:%M %Z") for s in found]
    assert "01:30 EDT" in walls
    assert "01:30 EST" in walls


def test_a_night_range_over_the_skipped_hour_never_offers_a_time_that_does_not_exist():
    found = slots_between(
        utc(2026, 3, 8, 0), utc(2026, 3, 9, 0), weekdays("00:00", "04:00"), minutes=30, step=30
    )
    # 00:00 EST to 04:00 EDT is three real hours.
    assert len(found) == 6
    for s in found:
        wall = s.astimezone(NY)
        assert wall.hour != 2, wall


def test_a_range_that_starts_inside_the_skipped_hour_starts_when_the_clock_jumps():
    assert sl.wall_to_utc(date(2026, 3, 8), 2 * 60 + 30, NY) == utc(2026, 3, 8, 7)


def test_an_ambiguous_time_means_its_first_occurrence():
    assert sl.wall_to_utc(date(2026, 11, 1), 90, NY) == utc(2026, 11, 1, 5, 30)


def test_a_day_off_removes_the_whole_day_and_a_partial_exception_removes_part():
    weekly = weekdays("09:00", "12:00")
    exceptions = [
        sl.DateException(date(2026, 6, 1), False),
        sl.DateException(date(2026, 6, 2), False, sl.parse_range("10:00", "11:00", "x")),
        sl.DateException(date(2026, 6, 3), True, sl.parse_range("18:00", "19:00", "x")),
    ]
    found = slots_between(utc(2026, 6, 1, 4), utc(2026, 6, 4, 4), weekly, exceptions)
    by_day: dict[date, list[int]] = {}
    for s in found:
        wall = s.astimezone(NY)
        by_day.setdefault(wall.date(), []).append(wall.hour)
    assert date(2026, 6, 1) not in by_day
    assert by_day[date(2026, 6, 2)] == [9, 11]
    assert by_day[date(2026, 6, 3)] == [9, 10, 11, 18]


def test_taken_cells_and_the_buffer_after_a_visit_remove_overlapping_slots():
    weekly = weekdays("09:00", "12:00")
    # A visit 10:00-10:30 EDT plus a 15-minute buffer holds 10:00-10:45.
    taken = set(sl.cells(utc(2026, 6, 2, 14), utc(2026, 6, 2, 14, 45)))
    found = slots_between(
        utc(2026, 6, 2, 4),
        utc(2026, 6, 3, 4),
        weekly,
        minutes=30,
        step=15,
        buffer=15,
        taken=taken,
    )
    walls = [s.astimezone(NY).strftime("%H:%M") for s in found]
    # 09:30 would run into the visit once its own buffer is counted; 10:45 is the first after.
    assert walls[:3] == ["09:00", "09:15", "10:45"]
    assert "11:30" in walls
    assert "11:45" not in walls


def test_past_slots_are_not_offered():
    start = utc(2026, 6, 2, 4)
    wins = sl.windows(start, start + timedelta(days=1), NY, weekdays("09:00", "12:00"), [])
    found = sl.free_slots(
        windows=wins,
        length=timedelta(minutes=60),
        buffer=timedelta(0),
        step=timedelta(minutes=60),
        taken_cells=set(),
        not_before=utc(2026, 6, 2, 14, 1),
        range_start=start,
        range_end=start + timedelta(days=1),
    )
    assert [s.start for s in found] == [utc(2026, 6, 2, 15)]


@pytest.mark.parametrize("bad", ["9:00", "25:00", "09:07", "", None, "noon"])
def test_malformed_times_are_refused_with_a_message(bad: object):
    with pytest.raises(sl.SlotError):
        sl.parse_range(bad, "12:00", "weekly[0]")


def test_a_range_must_end_after_it_starts_but_may_end_at_midnight():
    with pytest.raises(sl.SlotError, match="end after"):
        sl.parse_range("12:00", "09:00", "weekly[0]")
    assert sl.parse_range("22:00", "24:00", "weekly[0]").minutes() == (22 * 60, 24 * 60)


def test_times_are_shown_in_the_readers_zone_with_the_zone_named():
    when = utc(2026, 3, 3, 15)
    assert timefmt.format_local(when, "America/New_York") == "Tue 3 Mar, 10:00 AM EST"
    assert timefmt.format_local(when, LA) == "Tue 3 Mar, 7:00 AM PST"


def test_cells_cover_a_visit_in_five_minute_steps():
    found = sl.cells(utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 30))
    assert len(found) == 6
    assert found[0] == utc(2026, 1, 1, 10)
    assert sl.is_cell_aligned(utc(2026, 1, 1, 10, 5))
    assert not sl.is_cell_aligned(utc(2026, 1, 1, 10, 7))
