"""Domain: the symptom measures (PHQ-9, GAD-7, ...) as data, and their scoring.

The instruments are read from a versioned JSON file shipped with the package
(`data/instruments.json`): items and answer options as published, LOINC codes, severity
bands, the item that raises a safety alert, and the crisis resources shown with it. Adding an
instrument is a change to that file (and its tests), not to this code: scoring is the sum of
the answers, read against the instrument's own bands.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from telehealth.errors import InvalidInput


class InstrumentDataError(ValueError):
    """The instruments file is malformed (caught by the tests and at start-up)."""


@dataclass(frozen=True)
class Option:
    value: int
    label: str
    loinc: str


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    loinc: str


@dataclass(frozen=True)
class Band:
    min: int
    max: int
    severity: str
    label: str


@dataclass(frozen=True)
class SafetyItem:
    item: str
    above: int
    alert: str


@dataclass(frozen=True)
class Instrument:
    id: str
    name: str
    title: str
    topic: str
    prompt: str
    source: str
    panel_loinc: str
    total_loinc: str
    items: tuple[Item, ...]
    options: tuple[Option, ...]
    max_score: int
    bands: tuple[Band, ...]
    remission_below: int
    safety_items: tuple[SafetyItem, ...]

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)

    def option(self, value: int) -> Option:
        return next(o for o in self.options if o.value == value)

    def band(self, score: int) -> Band:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band
        raise ValueError(f"{self.id}: score {score} is outside every band")

    def check_answers(self, answers: Any, *, complete: bool) -> dict[str, int]:
        """The answers as {item id: value}, or InvalidInput naming what to fix.

        Each answer is a whole number from the instrument's options; `complete` also requires
        every item (a submission; a draft may be partial).
        """
        if not isinstance(answers, Mapping):
            raise InvalidInput(
                "Send answers as an object of item number to answer value.", field="answers"
            )
        allowed = {o.value for o in self.options}
        low, high = min(allowed), max(allowed)
        clean: dict[str, int] = {}
        for key, value in answers.items():
            item_id = str(key)
            if item_id not in self.item_ids:
                raise InvalidInput(
                    f"{self.name} has no question {item_id[:20]!r}: its questions are numbered "
                    f"1 to {len(self.items)}.",
                    field=f"answers.{item_id[:20]}",
                )
            if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
                raise InvalidInput(
                    f"Question {item_id} of the {self.name} needs an answer from {low} to {high}.",
                    field=f"answers.{item_id}",
                )
            clean[item_id] = value
        if complete:
            missing = [i for i in self.item_ids if i not in clean]
            if missing:
                numbers = ", ".join(missing)
                raise InvalidInput(
                    f"Answer every question before you send the {self.name}: "
                    f"question{'s' if len(missing) > 1 else ''} {numbers} "
                    f"{'are' if len(missing) > 1 else 'is'} still unanswered.",
                    code="invalid_input",
                    field="answers",
                    missing=missing,
                )
        return clean

    def score(self, answers: Mapping[str, int]) -> Score:
        """Score complete answers: the total, its band, and the safety alerts they raise."""
        clean = self.check_answers(answers, complete=True)
        total = sum(clean.values())
        band = self.band(total)
        alerts = tuple(s.alert for s in self.safety_items if clean.get(s.item, 0) > s.above)
        return Score(total=total, severity=band.severity, label=band.label, alerts=alerts)


@dataclass(frozen=True)
class Score:
    total: int
    severity: str
    label: str
    alerts: tuple[str, ...]


@dataclass(frozen=True)
class CrisisResource:
    name: str
    contact: str
    tel: str | None
    sms: str | None


@dataclass(frozen=True)
class InstrumentSet:
    version: str
    instruments: dict[str, Instrument]
    sources: dict[str, dict[str, str]]
    response_fall: float
    crisis_resources: tuple[CrisisResource, ...]

    def get(self, instrument_id: str) -> Instrument | None:
        return self.instruments.get(instrument_id)

    @property
    def answer_bounds(self) -> tuple[int, int]:
        """The lowest and highest answer value of any instrument."""
        values = [o.value for i in self.instruments.values() for o in i.options]
        return min(values), max(values)

    def require(self, instrument_id: str) -> Instrument:
        instrument = self.instruments.get(instrument_id)
        if instrument is None:
            known = ", ".join(sorted(self.instruments))
            raise InvalidInput(
                f"There is no questionnaire {instrument_id[:20]!r}; known: {known}.",
                field="instrument",
            )
        return instrument


def _need(obj: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise InstrumentDataError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def parse_instruments(data: Any) -> InstrumentSet:
    """Check and read the instruments file; every inconsistency is an InstrumentDataError."""
    if not isinstance(data, dict):
        raise InstrumentDataError("the file must hold an object")
    version = _need(data, "version", str, "top")
    sources = {s["id"]: s for s in _need(data, "sources", list, "top")}
    option_sets: dict[str, tuple[Option, ...]] = {}
    for name, options in _need(data, "answer_options", dict, "top").items():
        option_sets[name] = tuple(
            Option(int(o["value"]), str(o["label"]), str(o["loinc"])) for o in options
        )
    instruments: dict[str, Instrument] = {}
    for raw in _need(data, "instruments", list, "top"):
        where = f"instrument {raw.get('id')!r}"
        iid = _need(raw, "id", str, where)
        if iid in instruments:
            raise InstrumentDataError(f"{where}: listed twice")
        options = option_sets.get(_need(raw, "options", str, where))
        if not options:
            raise InstrumentDataError(f"{where}: unknown answer options")
        items = tuple(
            Item(_need(i, "id", str, where), _need(i, "text", str, where), i.get("loinc", ""))
            for i in _need(raw, "items", list, where)
        )
        if len({i.id for i in items}) != len(items):
            raise InstrumentDataError(f"{where}: item ids repeat")
        bands = tuple(
            Band(int(b["min"]), int(b["max"]), str(b["severity"]), str(b["label"]))
            for b in _need(raw, "bands", list, where)
        )
        max_score = _need(raw, "max_score", int, where)
        if max_score != len(items) * max(o.value for o in options):
            raise InstrumentDataError(f"{where}: max_score does not match its items")
        # The bands must cover 0..max_score exactly once, in order.
        expected = 0
        for band in bands:
            if band.min != expected or band.max < band.min:
                raise InstrumentDataError(f"{where}: bands leave a gap or overlap at {expected}")
            expected = band.max + 1
        if expected != max_score + 1:
            raise InstrumentDataError(f"{where}: bands do not reach {max_score}")
        safety = tuple(
            SafetyItem(str(s["item"]), int(s["above"]), str(s["alert"]))
            for s in raw.get("safety_items", [])
        )
        for s in safety:
            if s.item not in {i.id for i in items}:
                raise InstrumentDataError(f"{where}: safety item {s.item} is not an item")
        if raw.get("source") not in sources:
            raise InstrumentDataError(f"{where}: names no listed source")
        loinc = _need(raw, "loinc", dict, where)
        instruments[iid] = Instrument(
            id=iid,
            name=_need(raw, "name", str, where),
            title=_need(raw, "title", str, where),
            topic=_need(raw, "topic", str, where),
            prompt=_need(raw, "prompt", str, where),
            source=str(raw["source"]),
            panel_loinc=str(loinc.get("panel", "")),
            total_loinc=str(loinc.get("total", "")),
            items=items,
            options=options,
            max_score=max_score,
            bands=bands,
            remission_below=_need(raw, "remission_below", int, where),
            safety_items=safety,
        )
    response = _need(data, "response", dict, "top")
    crisis = _need(data, "crisis_resources", dict, "top")
    resources_ = tuple(
        CrisisResource(str(r["name"]), str(r["contact"]), r.get("tel"), r.get("sms"))
        for r in _need(crisis, "resources", list, "crisis_resources")
    )
    if not resources_:
        raise InstrumentDataError("crisis_resources: at least one is needed")
    return InstrumentSet(
        version=version,
        instruments=instruments,
        sources=sources,
        response_fall=float(response["fall_from_baseline"]),
        crisis_resources=resources_,
    )


def load_instruments(path: Path | None = None) -> InstrumentSet:
    if path is None:
        text = (resources.files("telehealth.measures") / "data" / "instruments.json").read_text(
            encoding="utf-8"
        )
    else:
        text = path.read_text(encoding="utf-8")
    return parse_instruments(json.loads(text))


@cache
def packaged_instruments() -> InstrumentSet:
    """The instruments shipped with this release (read once)."""
    return load_instruments()
