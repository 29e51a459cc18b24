"""Seats, room names and the per-connection rate limit."""

from __future__ import annotations

from telehealth.signaling.rooms import (
    RateLimiter,
    Seat,
    Seats,
    TokenBucket,
    dashboard_room,
    seat_room,
    visit_room,
)


def test_room_names_come_from_ids():
    assert visit_room(4) == "visit:4"
    assert seat_room(4, "patient") == "visit:4:patient"
    assert dashboard_room(9) == "dashboard:9"


def test_a_second_tab_takes_the_seat_and_the_first_tab_leaving_does_not_free_it():
    seats = Seats()
    seat = Seat(1, "patient")
    assert seats.claim(seat, "tab-1") is None
    assert seats.claim(seat, "tab-2") == "tab-1"
    assert seats.release(seat, "tab-1") is False
    assert seats.holder(seat) == "tab-2"
    assert seats.release(seat, "tab-2") is True
    assert seats.holder(seat) is None


def test_rejoining_on_the_same_connection_replaces_nobody():
    seats = Seats()
    seat = Seat(1, "prescriber")
    seats.claim(seat, "sid")
    assert seats.claim(seat, "sid") is None


def test_the_two_seats_of_a_visit_are_independent_and_cleared_together():
    seats = Seats()
    seats.claim(Seat(1, "patient"), "a")
    seats.claim(Seat(1, "prescriber"), "b")
    seats.claim(Seat(2, "patient"), "c")
    seats.clear_visit(1)
    assert seats.holder(Seat(1, "patient")) is None
    assert seats.holder(Seat(1, "prescriber")) is None
    assert seats.holder(Seat(2, "patient")) == "c"


def test_a_bucket_allows_a_burst_then_refills_over_time():
    bucket = TokenBucket(capacity=3, rate=1)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.5) is False
    assert bucket.take(1.0) is True
    assert bucket.take(100.0) is True  # refills up to the capacity only
    assert sum(bucket.take(100.0) for _ in range(5)) == 2


def test_each_connection_has_its_own_bucket():
    limiter = RateLimiter(capacity=2, rate=0)
    assert limiter.allow("a", 0) and limiter.allow("a", 0)
    assert not limiter.allow("a", 0)
    assert limiter.allow("b", 0)
    limiter.forget("a")
    assert limiter.allow("a", 0)
    assert len(limiter) == 2


def test_a_join_counts_as_a_check_backdated_by_part_of_the_interval():
    from datetime import UTC, datetime

    from telehealth.signaling.rooms import RECHECK_INTERVAL, joined_check_time, recheck_due

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    times = [joined_check_time(now) for _ in range(200)]
    for checked in times:
        assert now - RECHECK_INTERVAL < checked <= now
        assert not recheck_due(checked, now)  # relaying right after a join needs no check
        assert recheck_due(checked, now + RECHECK_INTERVAL)  # never later than before
    assert len(set(times)) > 100  # spread, not all due at once
