"""PHQ-9 and GAD-7 scoring against their published bands, every band edge, and item 9."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest

from telehealth.errors import InvalidInput
from telehealth.measures.instruments import (
    InstrumentDataError,
    packaged_instruments,
    parse_instruments,
)

PHQ9 = packaged_instruments().require("phq9")
GAD7 = packaged_instruments().require("gad7")


def answers_totalling(instrument_items: int, total: int, *, item9: int | None = None) -> dict:
    """Answers summing to `total`, filled from the first question on (item 9 pinned if given)."""
    answers = {str(i): 0 for i in range(1, instrument_items + 1)}
    remaining = total
    if item9 is not None:
        answers["9"] = item9
        remaining -= item9
    for i in range(1, instrument_items + 1):
        key = str(i)
        if item9 is not None and key == "9":
            continue
        take = min(3, remaining)
        answers[key] = take
        remaining -= take
    assert remaining == 0
    return answers


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_total_falls_in_its_published_band(total, severity):
    score = PHQ9.score(answers_totalling(9, total, item9=0 if total <= 24 else 3))
    assert (score.total, score.severity) == (total, severity)


@pytest.mark.parametrize(
    ("total", "severity"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ],
)
def test_gad7_total_falls_in_its_published_band(total, severity):
    score = GAD7.score(answers_totalling(7, total))
    assert (score.total, score.severity) == (total, severity)


@pytest.mark.parametrize(
    ("item9", "alerts"),
    [(0, ()), (1, ("suicide_risk",)), (2, ("suicide_risk",)), (3, ("suicide_risk",))],
)
def test_phq9_item_9_above_zero_raises_a_suicide_risk_alert(item9, alerts):
    assert PHQ9.score(answers_totalling(9, item9, item9=item9)).alerts == alerts


def test_a_high_phq9_with_item_9_at_zero_raises_no_alert():
    assert PHQ9.score(answers_totalling(9, 24, item9=0)).alerts == ()


def test_gad7_raises_no_safety_alert_at_any_score():
    assert GAD7.score(answers_totalling(7, 21)).alerts == ()


@pytest.mark.parametrize(
    ("answers", "complete", "fragment"),
    [
        ({"1": 4}, False, "from 0 to 3"),
        ({"1": -1}, False, "from 0 to 3"),
        ({"1": 1.5}, False, "from 0 to 3"),
        ({"1": "2"}, False, "from 0 to 3"),
        ({"1": True}, False, "from 0 to 3"),
        ({"10": 1}, False, "has no question"),
        ({"0": 1}, False, "has no question"),
        ([1, 2], False, "object"),
        ({"1": 1}, True, "questions 2, 3, 4, 5, 6, 7, 8, 9 are still unanswered"),
    ],
)
def test_invalid_answers_are_refused_with_a_message_naming_the_fix(answers, complete, fragment):
    with pytest.raises(InvalidInput) as err:
        PHQ9.check_answers(answers, complete=complete)
    assert fragment in err.value.message


def test_a_partial_draft_is_accepted():
    assert PHQ9.check_answers({"1": 0, "9": 2}, complete=False) == {"1": 0, "9": 2}


def test_items_and_options_are_the_published_ones():
    assert PHQ9.item_ids == tuple(str(i) for i in range(1, 10))
    assert GAD7.item_ids == tuple(str(i) for i in range(1, 8))
    labels = [o.label for o in PHQ9.options]
    assert labels == ["Not at all", "Several days", "More than half the days", "Nearly every day"]
    assert PHQ9.items[8].text.startswith("Thoughts that you would be better off dead")
    assert GAD7.items[0].text == "Feeling nervous, anxious or on edge"
    assert (PHQ9.panel_loinc, PHQ9.total_loinc) == ("44249-1", "44261-6")
    assert (GAD7.panel_loinc, GAD7.total_loinc) == ("69737-5", "70274-6")
    assert PHQ9.items[8].loinc == "44260-8"
    assert all(item.loinc for item in (*PHQ9.items, *GAD7.items))


def test_crisis_resources_put_the_988_lifeline_first():
    first = packaged_instruments().crisis_resources[0]
    assert first.name == "988 Suicide & Crisis Lifeline"
    assert "988" in first.contact
    assert any(r.tel == "911" for r in packaged_instruments().crisis_resources)


def _raw() -> dict:
    text = (resources.files("telehealth.measures") / "data" / "instruments.json").read_text()
    return json.loads(text)


def test_adding_an_instrument_is_a_data_change():
    data = _raw()
    extra = copy.deepcopy(data["instruments"][1])
    extra.update(id="gad2", name="GAD-2", max_score=6, items=extra["items"][:2], safety_items=[])
    extra["bands"] = [
        {"min": 0, "max": 2, "severity": "minimal", "label": "below the cut-off"},
        {"min": 3, "max": 6, "severity": "moderate", "label": "at or above the cut-off"},
    ]
    data["instruments"].append(extra)
    gad2 = parse_instruments(data).require("gad2")
    assert gad2.score({"1": 2, "2": 1}).severity == "moderate"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["instruments"][0]["bands"].pop(2),  # a gap between bands
        lambda d: d["instruments"][0].update(max_score=30),
        lambda d: d["instruments"][0]["items"].append(dict(d["instruments"][0]["items"][0])),
        lambda d: d["instruments"][0].update(
            safety_items=[{"item": "12", "above": 0, "alert": "x"}]
        ),
        lambda d: d["instruments"][0].update(source="nowhere"),
        lambda d: d["crisis_resources"].update(resources=[]),
    ],
)
def test_a_malformed_instruments_file_is_refused(break_it):
    data = _raw()
    break_it(data)
    with pytest.raises(InstrumentDataError):
        parse_instruments(data)
