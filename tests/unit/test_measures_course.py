"""A course of measures put in words: the prescriber's changes and readings, the patient's
plain paragraph, and the medication marks, with days in the reader's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from telehealth.measures.course import (
    InstrumentCourse,
    Measure,
    MedicationMark,
    mark_words,
    read_course,
)
from telehealth.measures.instruments import packaged_instruments

INSTRUMENTS = packaged_instruments()
PHQ9 = INSTRUMENTS.require("phq9")


def course_of(*scores: tuple[int, datetime]) -> InstrumentCourse:
    measures = [
        Measure("phq9", n + 1, when, score, PHQ9.band(score).severity, n + 1)
        for n, (score, when) in enumerate(scores)
    ]
    return InstrumentCourse(PHQ9, measures, INSTRUMENTS.response_fall)


MARCH = datetime(2030, 3, 5, 15, 0, tzinfo=UTC)
APRIL = datetime(2030, 4, 2, 3, 0, tzinfo=UTC)  # 1 April, 11 PM in New York


def test_a_fall_of_half_reads_as_response_and_is_told_to_the_patient_as_fewer_symptoms():
    reading = read_course(course_of((18, MARCH), (4, APRIL)), "America/New_York")
    assert reading.since_baseline == "14 points lower (78%) than the first measure"
    assert reading.since_previous == "14 points lower (78%) than the last visit (18)"
    assert reading.flags == ("Response: at least 50% below baseline", "Remission: under 5")
    assert reading.plain == (
        "Your PHQ-9 (depression) score was 4 out of 27 on 1 April 2030, in the range of "
        f"{PHQ9.band(4).label}. That is 14 points lower than your first score (18 on 5 March "
        "2030): lower means fewer symptoms."
    )


def test_a_rise_asks_the_patient_to_talk_it_over_and_no_reading_holds():
    reading = read_course(course_of((6, MARCH), (9, APRIL)), "UTC")
    assert reading.since_baseline == "3 points higher (50%) than the first measure"
    assert reading.flags == ()
    assert reading.plain.endswith(
        "That is 3 points higher than your first score (6 on 5 March 2030). Talk it over "
        "with your prescriber."
    )


def test_a_first_measure_has_no_change_and_a_zero_baseline_no_percent():
    only = read_course(course_of((7, MARCH)), "UTC")
    assert (only.since_baseline, only.since_previous) == ("", "")
    assert only.plain.endswith(f"in the range of {PHQ9.band(7).label}.")
    from_zero = read_course(course_of((0, MARCH), (2, APRIL)), "UTC")
    assert from_zero.since_baseline == "2 points higher than the first measure"
    same = read_course(course_of((5, MARCH), (5, APRIL)), "UTC")
    assert same.since_baseline == "no change since the first measure"
    assert same.plain.endswith("It is the same as your first score on 5 March 2030.")


def test_medication_marks_name_the_change_and_a_stop_leaves_out_the_dose():
    started = MedicationMark(MARCH, "started", "sertraline 50 mg tablet", "50 mg", "once daily")
    stopped = MedicationMark(APRIL, "stopped", "sertraline 50 mg tablet", "50 mg", "once daily")
    assert mark_words(started) == "Started: sertraline 50 mg tablet 50 mg once daily"
    assert mark_words(stopped) == "Stopped: sertraline 50 mg tablet"
