"""Web layer: request and response models of sign-in, sessions, accounts, cover and the
audit trail.

Validators reuse the domain's own checks (`telehealth.auth.accounts`), so a message is
written once and reads the same from the API, the console and the demo data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from telehealth.auth.accounts import NewAccount, parse_credential, parse_role
from telehealth.auth.models import CoverageAssignment, Credential, Role, User
from telehealth.errors import InvalidInput
from telehealth.http.context import int_param, parse_when
from telehealth.http.models import Reply, Request, RowId

T = TypeVar("T")


def _checked(check: Callable[[Any], T]) -> Callable[[Any], T]:
    """A domain check as a validator: its InvalidInput becomes the field's message as is."""

    def run(value: Any) -> T:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    return run


def _credential(value: Any) -> Credential | None:
    return None if value is None else parse_credential(value)


def _role_or_none(value: Any) -> Role | None:
    return None if value in (None, "") else parse_role(value)


class UserRef(Reply):
    """Who signed in (or whose join link opened)."""

    id: int
    username: str
    role: str

    @classmethod
    def of(cls, user: User) -> UserRef:
        assert user.id is not None
        return cls(id=user.id, username=user.username, role=user.role.value)


class SignIn(Request):
    username: str
    password: str


class SignedIn(Reply):
    user: UserRef


class Me(Reply):
    """The caller."""

    id: int
    username: str
    role: str
    full_name: str
    # Only for a join-link session: the one visit it may act on.
    visit_id: int | None = None


class NewUser(Request):
    """An account to create; the profile fields of its role (patients: date of birth, state,
    time zone; prescribers: credential, NPI, licensed states, time zone)."""

    username: str
    role: Annotated[Role, BeforeValidator(_checked(parse_role))]
    full_name: str
    password: str | None = None
    email: str | None = None
    date_of_birth: date | None = None
    state: str | None = None
    timezone: str | None = None
    phone: str | None = None
    allergies: list[str] | None = None
    current_medications: list[str] | None = None
    credential: Annotated[Credential | None, BeforeValidator(_checked(_credential))] = None
    npi: str | None = None
    licensed_states: list[str] | None = None
    supervising_prescriber_id: RowId | None = None
    va_practitioner: bool = Field(default=False, strict=True)

    def account(self) -> NewAccount:
        return NewAccount(
            username=self.username,
            role=self.role,
            full_name=self.full_name,
            password=self.password,
            email=self.email,
            date_of_birth=self.date_of_birth,
            state=self.state,
            timezone=self.timezone,
            phone=self.phone,
            allergies=tuple(self.allergies or ()),
            current_medications=tuple(self.current_medications or ()),
            credential=self.credential,
            npi=self.npi,
            licensed_states=tuple(self.licensed_states or ()),
            supervising_prescriber_id=self.supervising_prescriber_id,
            va_practitioner=self.va_practitioner,
        )


class Created(Reply):
    id: int


class UserQuery(Request):
    role: Annotated[Role | None, BeforeValidator(_checked(_role_or_none))] = None


class UserRow(Reply):
    id: int
    username: str
    role: str
    full_name: str
    active: bool
    locked: bool
    can_deactivate: bool


class UserList(Reply):
    users: list[UserRow]


class UserChange(Request):
    """Deactivate (`active` false), reactivate, or `unlock` after failed sign-ins."""

    active: bool | None = Field(default=None, strict=True)
    unlock: bool | None = Field(default=None, strict=True)


class UserChanged(Reply):
    id: int
    username: str
    role: str
    active: bool


class CoverageAsk(Request):
    covered_prescriber_id: RowId
    starts_on: date
    ends_on: date


class Coverage(Reply):
    id: int
    covering_prescriber_id: int
    covered_prescriber_id: int
    starts_on: date
    ends_on: date

    @classmethod
    def of(cls, row: CoverageAssignment) -> Coverage:
        assert row.id is not None
        return cls(
            id=row.id,
            covering_prescriber_id=row.covering_prescriber_id,
            covered_prescriber_id=row.covered_prescriber_id,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
        )


class CoverageList(Reply):
    coverage: list[Coverage]


class AuditQuery(Request):
    """Entries about a patient, by a user, from `start` (included) to `end` (excluded)."""

    patient_id: int | None = None
    user_id: int | None = None
    start: datetime | None = None
    end: datetime | None = None

    @field_validator("patient_id", "user_id", mode="before")
    @classmethod
    def _id(cls, value: Any, info: ValidationInfo) -> int | None:
        # ASCII digits only, as in a path: int() would also read "+1", "1_0" and "١".
        if value is None or isinstance(value, int):
            return value
        return _checked(lambda v: int_param(str(v), info.field_name or "", required=False))(value)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _when(cls, value: Any, info: ValidationInfo) -> datetime | None:
        if value is None or isinstance(value, datetime):
            return value
        return _checked(lambda v: parse_when(str(v), info.field_name or ""))(value)


class AuditEntryOut(Reply):
    """An entry as its hash covers it (times in UTC, ISO 8601)."""

    seq: int
    at: str
    user_id: int | None
    role: str | None
    action: str
    patient_id: int | None
    resource_type: str
    resource_id: str | None
    outcome: str
    source_address: str | None
    request_id: str | None
    detail: dict[str, Any]


class AuditEntries(Reply):
    entries: list[AuditEntryOut]
