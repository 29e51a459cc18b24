"""Web layer: request and response models of questionnaires, measures and safety alerts.

Which questions an instrument has and which answers it takes are the instrument's own rules
(`measures.instruments`): a request model checks only the shape (answers an object of whole
numbers or null), and the service checks the rest with the messages it has always given.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, StrictBool, field_validator

from telehealth.http.models import Instant, Reply, Request
from telehealth.measures.alerts import NOTE_NEEDED, action_choices
from telehealth.measures.instruments import packaged_instruments
from telehealth.measures.models import AlertAction, AlertKind, AlertStatus


def _answer(value: object) -> object:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    low, high = packaged_instruments().answer_bounds
    raise ValueError(
        f"Each answer needs a whole number from {low} to {high} (or null to clear the question)."
    )


# One answer: an option's value, or null to clear the question from the draft.
Answer = Annotated[int | None, BeforeValidator(_answer)]


class QuestionnaireSave(Request):
    """Answers so far, and whether to submit them (once)."""

    submit: StrictBool = False
    # The changes since the last save, by item id ("1", "2", ...); a draft may be partial.
    answers: dict[str, Answer] = Field(default_factory=dict)

    @field_validator("answers", mode="before")
    @classmethod
    def _object(cls, value: object) -> object:
        if not isinstance(value, dict):
            raise ValueError("Send answers as an object of question number to answer value.")
        return value


class MeasuresQuery(Request):
    # One instrument's measures (phq9, gad7); left out: every instrument's.
    instrument: str | None = None

    @field_validator("instrument", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return value or None


class AlertsQuery(Request):
    # open or acknowledged; left out: both.
    status: AlertStatus | None = None

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: object) -> object:
        if not value:
            return None
        if value not in {s.value for s in AlertStatus}:
            raise ValueError("status must be open or acknowledged (or left out for both).")
        return value


def _both_needed(schema: dict[str, Any]) -> None:
    # Both are needed; their defaults only let a missing one get the same message as a
    # wrong one (the choices, or the note to write), so the schema does not show them.
    schema["required"] = ["action", "note"]
    for prop in schema["properties"].values():
        prop.pop("default", None)


class AlertAcknowledge(Request):
    """What was done about the alert, and a short note of it (both needed)."""

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_both_needed)

    action: AlertAction = Field(default=None, validate_default=True)
    note: str = ""

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: object) -> object:
        if value not in {a.value for a in AlertAction}:
            raise ValueError(action_choices())
        return value

    @field_validator("note", mode="before")
    @classmethod
    def _note(cls, value: object) -> object:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise ValueError(NOTE_NEEDED)
        return value


class QuestionnaireLink(Request):
    """The reminder's link token and the patient's date of birth (YYYY-MM-DD)."""

    token: str = ""
    date_of_birth: str = ""

    @field_validator("token", "date_of_birth", mode="before")
    @classmethod
    def _text(cls, value: object) -> str:
        # Anything that is not the link's token or the right date is a mismatch (404).
        return value if isinstance(value, str) else str(value)


class AnswerOption(Reply):
    value: int
    label: str


class InstrumentItem(Reply):
    id: str
    text: str
    loinc: str
    options: list[AnswerOption]


class LoincCodes(Reply):
    panel: str
    total: str


class PublishedInstrument(Reply):
    id: str
    name: str
    title: str
    prompt: str
    loinc: LoincCodes
    items: list[InstrumentItem]


class Instruments(Reply):
    version: str
    instruments: list[PublishedInstrument]


class QuestionnaireEntry(Reply):
    instrument: str
    name: str
    status: Literal["not_started", "draft", "submitted"]
    answers: dict[str, int]
    # Null until submitted.
    score: int | None
    severity: str | None
    submitted_at: Instant | None


class Questionnaires(Reply):
    questionnaires: list[QuestionnaireEntry]


class CrisisContact(Reply):
    name: str
    contact: str


class QuestionnaireSaved(QuestionnaireEntry):
    safety_alert: bool
    # Shown at once when the answers raised a safety alert (the 988 Lifeline first).
    crisis_resources: list[CrisisContact]


class MeasureEntry(Reply):
    id: int  # the questionnaire response, for its FHIR export
    instrument: str
    visit_id: int
    submitted_at: Instant
    score: int
    severity: str


class Measures(Reply):
    measures: list[MeasureEntry]


class AlertEntry(Reply):
    id: int
    patient_id: int
    patient_name: str
    visit_id: int
    kind: AlertKind
    created_at: Instant
    status: AlertStatus
    escalated: bool
    acknowledged_at: Instant | None
    action: str | None


class Alerts(Reply):
    alerts: list[AlertEntry]


class AlertAcknowledged(Reply):
    id: int
    status: AlertStatus
    action: str | None


class QuestionnaireLinkOpened(Reply):
    visit_id: int
    next: str


class FhirEntry(Reply):
    fullUrl: str
    resource: dict[str, Any]


class FhirBundle(Reply):
    """A FHIR R4 Bundle of type collection (application/fhir+json): a QuestionnaireResponse,
    the Observation of its total and one Observation per item, coded with LOINC."""

    resourceType: Literal["Bundle"]
    type: Literal["collection"]
    timestamp: str
    entry: list[FhirEntry]
