"""Web layer: request and response models of availability, slots, booking, visit changes
and join links.

Validators keep the messages the API has always given (a field's own words, naming what to
send); a required field that is absent is read as null, so its message is the field's own
rather than a bare "is required".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    PlainValidator,
    StrictInt,
    ValidationInfo,
    model_validator,
)

from telehealth.errors import InvalidInput
from telehealth.http.context import parse_when
from telehealth.http.models import Reply, Request
from telehealth.http.models.auth import UserRef
from telehealth.scheduling import slots as sl
from telehealth.scheduling.availability import Availability
from telehealth.scheduling.policy import REASON_REQUIRED, ensure_sane_date
from telehealth.timefmt import format_hhmm
from telehealth.visits.models import Modality, VisitType

DATE_TIME = {"format": "date-time"}
Instant = Annotated[str, Field(json_schema_extra=DATE_TIME)]
Day = Annotated[str, Field(json_schema_extra={"format": "date"})]


class _Request(Request):
    """Absent required fields arrive as null, for their validators' own messages."""

    @model_validator(mode="before")
    @classmethod
    def _absent_as_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            missing = [n for n, f in cls.model_fields.items() if f.is_required() and n not in data]
            return {**data, **dict.fromkeys(missing)} if missing else data
        return data


def _name(info: ValidationInfo) -> str:
    return info.field_name or "value"


def _when(value: object, info: ValidationInfo) -> datetime:
    """A required date-time with offset, within the years the practice uses."""
    name = _name(info)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} is required (ISO 8601 with offset).")
    try:
        parsed = parse_when(value, name, check=lambda when: ensure_sane_date(when, name))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None
    assert parsed is not None
    return parsed


def _optional_when(value: object, info: ValidationInfo) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{_name(info)} must be an ISO 8601 date-time with offset.")
    try:
        return parse_when(value, _name(info))
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _query_id(value: object, info: ValidationInfo) -> int | None:
    """An id from the query string. Any whole number is passed on: the service answers one
    that no record can have exactly as it answers an unknown one."""
    name = _name(info)
    if value is None or value == "":
        return None
    # Digits 0-9, perhaps after a minus: not "+1", "1_0" or other scripts' digits.
    digits = str(value).removeprefix("-")
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 20):
        raise ValueError(f"{name} must be a whole number (digits 0-9).")
    return int(str(value))


def _required_query_id(value: object, info: ValidationInfo) -> int:
    parsed = _query_id(value, info)
    if parsed is None:
        raise ValueError(f"{_name(info)} is required.")
    return parsed


def _visit_type(value: object) -> VisitType:
    try:
        return VisitType(str(value))
    except ValueError:
        raise ValueError("visit_type must be initial_evaluation or follow_up.") from None


def _modality(value: object) -> Modality:
    try:
        return Modality(str(value))
    except ValueError:
        raise ValueError("modality must be telehealth or in_person.") from None


def _flag(value: object) -> bool:
    return value in ("1", "true", True)


def _week(value: object) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("week must be a date as YYYY-MM-DD.") from None


def _reason(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(REASON_REQUIRED)
    return value


When = Annotated[datetime, PlainValidator(_when, json_schema_input_type=datetime)]
OptionalWhen = Annotated[
    datetime | None, PlainValidator(_optional_when, json_schema_input_type=datetime | None)
]
QueryId = Annotated[int | None, PlainValidator(_query_id, json_schema_input_type=int | None)]
RequiredQueryId = Annotated[int, PlainValidator(_required_query_id, json_schema_input_type=int)]
# The enums' values written out, so a query parameter's schema needs no reference.
VisitKind = Annotated[
    VisitType,
    PlainValidator(_visit_type, json_schema_input_type=Literal["initial_evaluation", "follow_up"]),
]
VisitModality = Annotated[
    Modality, PlainValidator(_modality, json_schema_input_type=Literal["telehealth", "in_person"])
]
Flag = Annotated[bool, BeforeValidator(_flag)]


# ---------------------------------------------------------------- availability


class WeeklyHours(Reply):
    """One range of hours on a weekday, in the prescriber's zone (Monday is 0)."""

    weekday: int = Field(ge=0, le=6)
    start: str = Field(examples=["09:00"])
    end: str = Field(examples=["17:00"])


class DateHours(Reply):
    """A date's exception: the day off (available false, no times), part of it off
    (available false with times), or extra hours (available true with times)."""

    date: Day
    available: bool = True
    start: str | None = None
    end: str | None = None


def _weekly(value: object) -> list[sl.WeeklyRange]:
    if not isinstance(value, list):
        raise ValueError("weekly must be a list of {weekday, start, end}.")
    out: list[sl.WeeklyRange] = []
    for n, item in enumerate(value):
        field = f"weekly[{n}]"
        if not isinstance(item, dict):
            raise ValueError(f"{field} must be an object with weekday, start and end.")
        weekday = item.get("weekday")
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise ValueError(f"{field}.weekday must be 0 (Monday) to 6 (Sunday).")
        try:
            hours = sl.parse_range(item.get("start"), item.get("end"), field)
        except sl.SlotError as exc:
            raise ValueError(str(exc)) from None
        out.append(sl.WeeklyRange(weekday, hours))
    return out


def _exceptions(value: object) -> list[sl.DateException]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("exceptions must be a list.")
    out: list[sl.DateException] = []
    for n, item in enumerate(value):
        field = f"exceptions[{n}]"
        if not isinstance(item, dict):
            raise ValueError(f"{field} must be an object with a date.")
        try:
            on = date.fromisoformat(str(item.get("date")))
        except ValueError:
            raise ValueError(f"{field}.date must be a date as YYYY-MM-DD.") from None
        available = item.get("available", True)
        if not isinstance(available, bool):
            raise ValueError(f"{field}.available must be true or false.")
        has_times = item.get("start") is not None or item.get("end") is not None
        if available and not has_times:
            raise ValueError(f'{field} needs start and end, or "available": false.')
        try:
            hours = sl.parse_range(item.get("start"), item.get("end"), field) if has_times else None
        except sl.SlotError as exc:
            raise ValueError(str(exc)) from None
        out.append(sl.DateException(on, available, hours))
    return out


class AvailabilitySave(_Request):
    """A prescriber's whole template: it replaces the hours and exceptions on file."""

    weekly: Annotated[
        list[sl.WeeklyRange], PlainValidator(_weekly, json_schema_input_type=list[WeeklyHours])
    ]
    exceptions: Annotated[
        list[sl.DateException],
        PlainValidator(_exceptions, json_schema_input_type=list[DateHours] | None),
    ] = Field(default_factory=list)
    buffer_minutes: StrictInt | None = None


class AvailabilityOut(Reply):
    """The hours on file; an exception's start and end are there only when it has times."""

    prescriber_id: int
    timezone: str
    buffer_minutes: int
    weekly: list[WeeklyHours]
    exceptions: list[DateHours]

    @classmethod
    def of(cls, a: Availability) -> AvailabilityOut:
        """Send with `omit_unset`: a whole day off has no start or end."""
        return cls(
            prescriber_id=a.prescriber_id,
            timezone=a.timezone,
            buffer_minutes=a.buffer_minutes,
            weekly=[
                WeeklyHours(
                    weekday=w.weekday,
                    start=format_hhmm(w.range.start),
                    end=format_hhmm(w.range.end),
                )
                for w in a.weekly
            ],
            exceptions=[
                DateHours(date=e.on.isoformat(), available=e.available)
                if e.range is None
                else DateHours(
                    date=e.on.isoformat(),
                    available=e.available,
                    start=format_hhmm(e.range.start),
                    end=format_hhmm(e.range.end),
                )
                for e in a.exceptions
            ],
        )


class PrescriberOut(Reply):
    id: int
    full_name: str
    credential: str
    licensed_states: list[str]
    timezone: str
    buffer_minutes: int


class Prescribers(Reply):
    prescribers: list[PrescriberOut]


# ---------------------------------------------------------------- slots, patients


class SlotsQuery(_Request):
    prescriber_id: RequiredQueryId
    start: When
    end: When
    visit_type: VisitKind = VisitType.follow_up
    patient_id: QueryId = None


class Slot(Reply):
    start: Instant
    end: Instant


class Slots(Reply):
    slots: list[Slot]


class PatientQuery(Request):
    q: str = Field(default="", description="Part of the name, or a date of birth")


class PatientOut(Reply):
    id: int
    full_name: str
    date_of_birth: Day
    state: str
    timezone: str


class Patients(Reply):
    patients: list[PatientOut]


# ---------------------------------------------------------------- visits


class VisitBook(_Request):
    patient_id: StrictInt
    prescriber_id: StrictInt
    start: When
    visit_type: VisitKind
    modality: VisitModality


class VisitsQuery(Request):
    prescriber_id: QueryId = None
    patient_id: QueryId = None
    start: OptionalWhen = None
    end: OptionalWhen = None
    upcoming: Flag = False
    active: Flag = False


class WeekQuery(_Request):
    prescriber_id: RequiredQueryId
    week: Annotated[date | None, PlainValidator(_week, json_schema_input_type=date | None)] = None
    visit_type: VisitKind = VisitType.follow_up
    patient_id: QueryId = None
    include_cancelled: Flag = False


class VisitCancel(_Request):
    reason: Annotated[str, PlainValidator(_reason, json_schema_input_type=str)]


class VisitMove(_Request):
    start: When


class PatientSide(Reply):
    id: int
    full_name: str
    timezone: str
    state: str


class PrescriberSide(Reply):
    id: int
    full_name: str
    timezone: str


class VisitDisplay(Reply):
    """The visit's times labelled for the reader (and for each side)."""

    timezone: str
    date: Day
    start: str
    end: str
    patient_start: str
    prescriber_start: str


class VisitCan(Reply):
    """What the reader may do with the visit now (`scheduling.permissions.visit_can`)."""

    reschedule: bool
    cancel: bool
    noshow: bool
    invite: bool
    join: bool
    calendar: bool


class VisitEventOut(Reply):
    at: Instant
    kind: str
    actor_id: int | None
    role: str | None
    detail: dict[str, Any]


class VisitOut(Reply):
    """A visit as its reader may see it; `cancel_reason` and `history` for staff only."""

    id: int
    status: str
    start: Instant
    end: Instant
    modality: str
    visit_type: str
    sequence: int
    patient: PatientSide
    prescriber: PrescriberSide
    patient_id: int
    prescriber_id: int
    display: VisitDisplay
    join_url: str | None
    cancel_reason: str | None = None
    can: VisitCan
    history: list[VisitEventOut] | None = None


class Visits(Reply):
    visits: list[VisitOut]
    timezone: str | None
    today: Day


class Queued(Reply):
    status: str


# ---------------------------------------------------------------- the week


class WeekSlot(Reply):
    start: Instant
    end: Instant
    label: str
    time: str
    short_time: str
    patient_label: str | None


class WeekVisit(VisitOut):
    time: str
    minutes: int


class WeekDay(Reply):
    date: Day
    label: str
    past: bool
    slots: list[WeekSlot]
    visits: list[WeekVisit]


class WeekPrescriber(Reply):
    id: int
    full_name: str
    timezone: str
    licensed_states: list[str]


class WeekOut(Reply):
    prescriber: WeekPrescriber
    timezone: str
    week_start: Day
    prev_week: Day
    next_week: Day
    label: str
    days: list[WeekDay]


# ---------------------------------------------------------------- join links


class JoinOpen(Request):
    """A join link's token and the patient's date of birth."""

    token: str
    date_of_birth: Day


class Joined(Reply):
    """The session is set; `next` is the page to open."""

    visit_id: int
    user: UserRef
    status: str | None = None
    next: str
