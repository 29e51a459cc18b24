"""Web layer: request and response models of visit records: notes, summaries, the catalogue,
orders, the patient's medication list and in-person evaluations.

Requests parse only the JSON's shapes (text, whole numbers, objects), with the messages the
API has always given; the rules about values (lengths, routes, limits, dates) are the
services' (`telehealth.visits`), so the console and imports keep them too.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from telehealth.http.models import Instant, Reply, Request
from telehealth.visits import notes, orders

# --- notes ---------------------------------------------------------------------------------


def _absent_as_null(data: Any, name: str) -> Any:
    """An absent field is checked like a null one, so it gets the same message."""
    return {name: None, **data} if isinstance(data, dict) else data


VERSION_MESSAGE = "Send the version of the note your edit is based on (0 for a new note)."


def _version(value: Any, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(VERSION_MESSAGE)
    return value


class NoteSave(Request):
    """A draft's sections (absent or null: empty), based on the note's `version`."""

    version: int = Field(ge=0, description="The version the edit is based on; 0 for a new note.")
    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""

    @model_validator(mode="before")
    @classmethod
    def _version_said(cls, data: Any) -> Any:
        return _absent_as_null(data, "version")

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> int | None:
        return _version(value, required=True)

    @field_validator(*notes.SECTIONS, mode="before")
    @classmethod
    def _absent_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value

    def text(self) -> notes.NoteText:
        return notes.NoteText(**{name: getattr(self, name) for name in notes.SECTIONS})


class NoteSign(Request):
    """Sign only if the note is still at `version` (optional)."""

    version: int | None = Field(default=None, ge=0)

    @field_validator("version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> int | None:
        return _version(value, required=False)


class AddendumNew(Request):
    text: str

    @model_validator(mode="before")
    @classmethod
    def _text_said(cls, data: Any) -> Any:
        return _absent_as_null(data, "text")

    @field_validator("text", mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(notes.ADDENDUM_MISSING)
        return value


class Addendum(Reply):
    id: int | None
    text: str
    author_id: int
    signed_at: Instant | None


class NotePermissions(Reply):
    can_edit: bool
    can_sign: bool
    can_add_addendum: bool


class Note(Reply):
    """The note: draft or signed for its prescriber (with `revisions` and `permissions`),
    the signed text only for its patient."""

    visit_id: int
    status: str
    subjective: str
    objective: str
    assessment: str
    plan: str
    version: int
    updated_at: Instant | None
    signed_at: Instant | None
    addenda: list[Addendum]
    revisions: int | None = None
    permissions: NotePermissions | None = None


class NoteSaved(Reply):
    version: int
    updated_at: Instant | None


class NoteSigned(Reply):
    status: str
    version: int
    signed_at: Instant | None


# --- the after-visit summary -----------------------------------------------------------------


class SummaryMedication(Reply):
    name: str
    dose: str
    route: str
    frequency: str
    instructions: str
    change: str


class NextVisit(Reply):
    id: int
    start: Instant
    prescriber: str
    modality: str


class Summary(Reply):
    visit_id: int
    prescriber: str
    date: dt.date
    start: Instant
    signed_at: Instant
    instructions: str
    medications: list[SummaryMedication]
    next_visit: NextVisit | None


# --- the catalogue and orders ----------------------------------------------------------------


class MedicationSearch(Request):
    q: str = Field(default="", description="Name, brand or ingredient (first 100 characters).")


class Medication(Reply):
    id: str
    name: str
    federal_schedule: str | None
    form: str
    strengths: list[str]


class MedicationsFound(Reply):
    medications: list[Medication]
    catalogue_version: str


class Pdmp(Request):
    """The PDMP check: {"state": "NY"} (checked) or {"unavailable": true}."""

    state: str = ""
    unavailable: bool = False

    @field_validator("state", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> str:
        return str(value or "")

    @field_validator("unavailable", mode="before")
    @classmethod
    def _only_true(cls, value: Any) -> bool:
        return value is True


def _as_text(value: Any, info: ValidationInfo) -> Any:
    """A JSON number stands for its text (a quantity of 30); anything else but text is wrong."""
    label = (info.field_name or "").capitalize()
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ValueError(f"{label} must be a number or text, not {value}.")
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text.")
    return value


def _whole(value: Any, message: str, *, empty: int | None) -> Any:
    """A whole number, or its digits as text; empty or null stands for `empty`."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if value is None or value == "":
        return empty
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(message)
    return value


class OrderNew(Request):
    """An order's fields; `days_supply`, `indication` and `pdmp` are for the buprenorphine
    pathway."""

    medication_id: str = Field(default="", description="A catalogue id, e.g. sertraline-tablet.")
    dose: str = ""
    route: str = Field(default="", description=f"One of: {', '.join(orders.ROUTES)}.")
    frequency: str = ""
    quantity: str = Field(default="", description="A number, with a unit if wanted: 30 tablets.")
    refills: int = 0
    instructions: str = ""
    days_supply: int | None = None
    indication: str | None = Field(default=None, description="opioid_use_disorder, or absent.")
    pdmp: Pdmp | None = None

    @field_validator("medication_id", mode="before")
    @classmethod
    def _medication(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(orders.CHOOSE_MEDICATION)
        return value

    @field_validator("dose", "route", "frequency", "quantity", "instructions", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        return _as_text(value, info)

    @field_validator("refills", mode="before")
    @classmethod
    def _refills(cls, value: Any) -> Any:
        return _whole(value, orders.REFILLS_MESSAGE, empty=0)

    @field_validator("days_supply", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return _whole(value, orders.DAYS_SUPPLY_MESSAGE, empty=None)

    @field_validator("indication", mode="before")
    @classmethod
    def _indication(cls, value: Any) -> Any:
        if not value:
            return None
        if not isinstance(value, str):
            raise ValueError(orders.INDICATION_MESSAGE)
        return value

    @field_validator("pdmp", mode="before")
    @classmethod
    def _pdmp(cls, value: Any) -> Any:
        if value is None or value == {}:
            return None
        if not isinstance(value, dict):
            raise ValueError(orders.PDMP_MESSAGE)
        return value

    def order(self) -> orders.OrderInput:
        pdmp = self.pdmp
        return orders.OrderInput(
            medication_id=self.medication_id,
            dose=self.dose,
            route=self.route,
            frequency=self.frequency,
            quantity=self.quantity,
            refills=self.refills,
            instructions=self.instructions,
            days_supply=self.days_supply,
            indication=self.indication,
            pdmp_state=None if pdmp is None or pdmp.unavailable else pdmp.state,
            pdmp_unavailable=pdmp is not None and pdmp.unavailable,
        )


class Order(Reply):
    id: int | None
    visit_id: int
    medication_id: str
    name: str
    schedule: str | None
    dose: str
    route: str
    frequency: str
    quantity: str
    refills: int
    instructions: str
    status: str
    created_at: Instant | None


class GateOutcome(Reply):
    rule: str
    jurisdiction: str


class OrderPlaced(Order):
    gate: GateOutcome


class Orders(Reply):
    orders: list[Order]


# --- the medication list and in-person evaluations ---------------------------------------


class MedicationEvent(Reply):
    kind: str
    dose: str | None
    frequency: str | None
    order_id: int | None
    at: Instant | None
    by_id: int
    by: str


class MedicationLine(Reply):
    id: int | None
    medication_id: str
    name: str
    dose: str
    route: str
    frequency: str
    status: str
    started_at: Instant | None
    stopped_at: Instant | None
    history: list[MedicationEvent]


class MedicationList(Reply):
    patient_id: int
    allergies: list[str]
    medications: list[MedicationLine]


class MedicationStopped(Reply):
    id: int | None
    status: str
    stopped_at: Instant | None


class EvaluationNew(Request):
    """An earlier in-person evaluation of the patient by the caller."""

    date: dt.date
    location: str = ""
    attestation: str = ""

    @model_validator(mode="before")
    @classmethod
    def _date_said(cls, data: Any) -> Any:
        return _absent_as_null(data, "date")

    @field_validator("date", mode="before")
    @classmethod
    def _day(cls, value: Any) -> dt.date:
        try:
            return dt.date.fromisoformat(value) if isinstance(value, str) else _no_day()
        except ValueError:
            return _no_day()

    @field_validator("location", "attestation", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return value if isinstance(value, str) else ""


def _no_day() -> dt.date:
    raise ValueError("Enter the date of the evaluation as YYYY-MM-DD.")


class EvaluationRecorded(Reply):
    id: int | None
    date: dt.date
    prescriber_id: int
