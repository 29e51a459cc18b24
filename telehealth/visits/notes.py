"""Domain: the SOAP note of a visit: drafts with optimistic concurrency, signing, addenda.

Every save names the version it was based on; a stale save is refused with the current text
so the client can show both and lose nothing. Every saved version is kept as a revision.
Signing locks the note; after that only signed addenda can be added.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from telehealth import audit
from telehealth.audit import Action
from telehealth.auth.models import Role, User
from telehealth.auth.policy import Actor
from telehealth.errors import Conflict, InvalidInput, NotFound
from telehealth.visits import states
from telehealth.visits.access import get_visit_for
from telehealth.visits.models import (
    NoteAddendum,
    NoteRevision,
    NoteStatus,
    Visit,
    VisitNote,
    VisitStatus,
)

MAX_SECTION = 50_000
MAX_ADDENDUM = 20_000
ADDENDUM_MISSING = "Write the addendum text."
# The prescriber writes from the moment the patient checks in (API.md), and after the visit.


@dataclass(frozen=True)
class NoteText:
    """The note's sections (SOAP), as the prescriber wrote them."""

    subjective: str = ""
    objective: str = ""
    assessment: str = ""
    plan: str = ""


# The fields a note has, in the order they are written.
SECTIONS = tuple(f.name for f in fields(NoteText))


@dataclass(frozen=True)
class NotePermissions:
    """What the note editor offers: edit and sign a draft; add addenda to a signed note."""

    can_edit: bool
    can_sign: bool
    can_add_addendum: bool


@dataclass(frozen=True)
class NoteView:
    """A note as its reader may see it: its prescriber also gets the number of saved
    revisions and what they may do; its patient only the signed text (both None)."""

    visit_id: int
    status: NoteStatus
    sections: dict[str, str]
    version: int
    updated_at: datetime | None
    signed_at: datetime | None
    signed_by_id: int | None
    addenda: list[NoteAddendum]
    revisions: int | None = None
    permissions: NotePermissions | None = None


def can_write_notes(actor: Actor, visit: Visit) -> bool:
    """The visit's own prescriber, once the patient has checked in."""
    return (
        actor.role is Role.prescriber
        and actor.visit_scope is None
        and actor.user_id == visit.prescriber_id
        and visit.status in states.ATTENDED
    )


def note_permissions(actor: Actor, visit: Visit, status: NoteStatus) -> NotePermissions:
    writable = can_write_notes(actor, visit)
    return NotePermissions(
        can_edit=writable and status is NoteStatus.draft,
        can_sign=writable and status is NoteStatus.draft,
        can_add_addendum=writable and status is NoteStatus.signed,
    )


def ensure_visit_open_for_writing(visit: Visit) -> None:
    if visit.status in states.ATTENDED:
        return
    if visit.status in states.VOID:
        raise Conflict(
            f"This visit is {visit.status.value}: nothing can be written or ordered on it.",
            code="visit_closed",
        )
    raise Conflict(
        "The patient has not checked in yet. You can write the note and place orders once "
        "the patient checks in.",
        code="visit_not_checked_in",
    )


def checked_sections(text: NoteText) -> dict[str, str]:
    sections = asdict(text)
    for name, value in sections.items():
        if len(value) > MAX_SECTION:
            raise InvalidInput(
                f"{name.title()} is too long (at most {MAX_SECTION} characters).", field=name
            )
    return sections


def _sections_of(note: VisitNote | None) -> dict[str, str]:
    if note is None:
        return dict.fromkeys(SECTIONS, "")
    return {name: getattr(note, name) for name in SECTIONS}


def _current(note: VisitNote | None) -> dict[str, Any]:
    """What a refused save sends back so the client can show both texts."""
    return {
        **_sections_of(note),
        "version": note.version if note else 0,
        "status": (note.status if note else NoteStatus.draft).value,
        "updated_at": note.updated_at.isoformat() if note else None,
    }


async def _writable_visit(session: AsyncSession, actor: Actor, visit_id: int) -> Visit:
    # The row lock serialises concurrent saves of one visit's note on PostgreSQL
    # (SQLite serialises every writer already).
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber,), for_update=True)
    ensure_visit_open_for_writing(visit)
    return visit


async def save_note(
    session: AsyncSession,
    *,
    actor: Actor,
    visit_id: int,
    text: NoteText,
    version: int,
    now: datetime,
) -> VisitNote:
    """Save a draft based on `version`; refuse a stale or signed save with the current text."""
    visit = await _writable_visit(session, actor, visit_id)
    sections = checked_sections(text)
    note = await session.get(VisitNote, visit.id, with_for_update=True)
    if note is not None and note.status is NoteStatus.signed:
        raise Conflict(
            "This note is signed and locked. Add an addendum instead.",
            code="note_signed",
            current=_current(note),
        )
    current_version = note.version if note else 0
    if version != current_version:
        raise Conflict(
            "This note was changed elsewhere (another tab or device) since you opened it. "
            "Your text is kept: compare both versions and save again.",
            code="stale_version",
            current=_current(note),
        )
    created = note is None
    if note is None:
        assert visit.id is not None
        note = VisitNote(visit_id=visit.id)
        session.add(note)
    for name, value in sections.items():
        setattr(note, name, value)
    note.version = current_version + 1
    note.updated_at = now
    note.updated_by_id = actor.user_id
    session.add(
        NoteRevision(
            visit_id=note.visit_id,
            version=note.version,
            saved_at=now,
            saved_by_id=actor.user_id,
            subjective=sections["subjective"],
            objective=sections["objective"],
            assessment=sections["assessment"],
            plan=sections["plan"],
        )
    )
    await session.flush()
    audit.record(
        session,
        Action.create if created else Action.update,
        "visit_note",
        note.visit_id,
        patient_id=visit.patient_id,
        detail={"version": note.version},
    )
    return note


async def sign_note(
    session: AsyncSession, *, actor: Actor, visit_id: int, version: int | None, now: datetime
) -> VisitNote:
    """Lock the note. With `version`, refuse if it is not the version the signer saw."""
    visit = await _writable_visit(session, actor, visit_id)
    note = await session.get(VisitNote, visit.id, with_for_update=True)
    if note is None or not any(_sections_of(note).values()):
        raise Conflict("Write the note before signing it.", code="note_empty")
    if note.status is NoteStatus.signed:
        raise Conflict("This note is already signed.", code="note_signed", current=_current(note))
    if version is not None and version != note.version:
        raise Conflict(
            "This note was changed elsewhere since you last saw it. Review it, then sign.",
            code="stale_version",
            current=_current(note),
        )
    note.status = NoteStatus.signed
    note.signed_at = now
    note.signed_by_id = actor.user_id
    await session.flush()
    audit.record(
        session,
        Action.update,
        "visit_note",
        note.visit_id,
        patient_id=visit.patient_id,
        detail={"signed": True, "version": note.version},
    )
    return note


async def add_addendum(
    session: AsyncSession, *, actor: Actor, visit_id: int, text: str, now: datetime
) -> NoteAddendum:
    """A signed addendum to a signed note (the note itself stays as it was signed)."""
    visit = await _writable_visit(session, actor, visit_id)
    if not text.strip():
        raise InvalidInput(ADDENDUM_MISSING, field="text")
    if len(text) > MAX_ADDENDUM:
        raise InvalidInput(
            f"The addendum is too long (at most {MAX_ADDENDUM} characters).", field="text"
        )
    note = await session.get(VisitNote, visit.id)
    if note is None or note.status is not NoteStatus.signed:
        raise Conflict(
            "Sign the note first; addenda are added to a signed note.", code="note_not_signed"
        )
    addendum = NoteAddendum(
        visit_id=note.visit_id, text=text.strip(), author_id=actor.user_id, signed_at=now
    )
    session.add(addendum)
    await session.flush()
    audit.record(
        session,
        Action.create,
        "note_addendum",
        addendum.id,
        patient_id=visit.patient_id,
        detail={"visit_id": note.visit_id},
    )
    return addendum


async def _view(
    session: AsyncSession, actor: Actor, visit: Visit, note: VisitNote | None
) -> NoteView:
    assert visit.id is not None
    status = note.status if note else NoteStatus.draft
    revisions: int | None = None
    permissions: NotePermissions | None = None
    if actor.role is Role.prescriber:
        # The working note's history and controls are the prescriber's, not the patient's.
        revisions = (
            await session.execute(
                select(func.count())
                .select_from(NoteRevision)
                .where(col(NoteRevision.visit_id) == visit.id)
            )
        ).scalar_one()
        permissions = note_permissions(actor, visit, status)
    addenda = (
        (
            await session.execute(
                select(NoteAddendum)
                .where(col(NoteAddendum.visit_id) == visit.id)
                .order_by(col(NoteAddendum.signed_at), col(NoteAddendum.id))
            )
        )
        .scalars()
        .all()
    )
    return NoteView(
        visit_id=visit.id,
        status=status,
        sections=_sections_of(note),
        version=note.version if note else 0,
        updated_at=note.updated_at if note else None,
        signed_at=note.signed_at if note else None,
        signed_by_id=note.signed_by_id if note else None,
        addenda=list(addenda),
        revisions=None if revisions is None else int(revisions),
        permissions=permissions,
    )


async def read_note(
    session: AsyncSession, *, actor: Actor, visit_id: int
) -> tuple[Visit, NoteView]:
    """The prescriber sees the draft or signed note; the patient only the signed summary.

    Anyone else, and a patient before signing, gets NotFound (nothing to see).
    """
    if actor.visit_scope is not None:
        # A join link opens the call, not the chart: summaries need a full sign-in, like the
        # summaries list and the medication list.
        raise NotFound()
    visit = await get_visit_for(session, actor, visit_id, roles=(Role.prescriber, Role.patient))
    note = await session.get(VisitNote, visit.id)
    if actor.role is Role.patient and (note is None or note.status is not NoteStatus.signed):
        raise NotFound("There is no after-visit summary for this visit yet.")
    view = await _view(session, actor, visit, note)
    audit.record(
        session,
        Action.read,
        "visit_note",
        visit.id,
        patient_id=visit.patient_id,
        detail={"version": view.version, "status": view.status.value},
    )
    return visit, view


async def signed_summaries(session: AsyncSession, *, actor: Actor) -> list[tuple[Visit, datetime]]:
    """A patient's own visits whose note is signed (their after-visit summaries), newest
    first. Only the patient, in a full session; others get nothing."""
    if actor.role is not Role.patient or actor.visit_scope is not None:
        return []
    rows = (
        await session.execute(
            select(Visit, col(VisitNote.signed_at))
            .join(VisitNote, col(VisitNote.visit_id) == col(Visit.id))
            .where(
                col(Visit.patient_id) == actor.user_id,
                col(VisitNote.signed_at).is_not(None),
            )
            .order_by(col(Visit.start).desc())
            .limit(50)
        )
    ).all()
    found = [(visit, signed_at) for visit, signed_at in rows if signed_at is not None]
    if found:
        audit.record(
            session,
            Action.read,
            "visit_summaries",
            patient_id=actor.user_id,
            detail={"count": len(found)},
        )
    return found


async def notes_to_sign(
    session: AsyncSession, *, actor: Actor, limit: int = 100
) -> list[tuple[Visit, str]]:
    """The prescriber's finished visits whose note is not signed yet (a draft or nothing),
    oldest first, with the patient's name: the work left after the calls. Others get none."""
    if actor.role is not Role.prescriber or actor.visit_scope is not None:
        return []
    rows = (
        await session.execute(
            select(Visit, col(User.full_name))
            .join(User, col(User.id) == col(Visit.patient_id))
            .outerjoin(VisitNote, col(VisitNote.visit_id) == col(Visit.id))
            .where(
                col(Visit.prescriber_id) == actor.user_id,
                col(Visit.status) == VisitStatus.finished,
                or_(col(VisitNote.visit_id).is_(None), col(VisitNote.signed_at).is_(None)),
            )
            .order_by(col(Visit.start))
            .limit(limit)
        )
    ).all()
    found = [(visit, str(name)) for visit, name in rows]
    for patient_id in sorted({visit.patient_id for visit, _ in found}):
        audit.record(
            session,
            Action.read,
            "visit_list",
            patient_id=patient_id,
            detail={"view": "notes_to_sign"},
        )
    return found


@dataclass(frozen=True)
class PastVisit:
    visit: Visit
    patient_name: str
    signed: bool


async def past_visits(session: AsyncSession, *, actor: Actor, limit: int = 200) -> list[PastVisit]:
    """The prescriber's finished visits, unsigned notes first, then newest first: where
    notes are signed and addenda written after the day is over. Others get none."""
    if actor.role is not Role.prescriber or actor.visit_scope is not None:
        return []
    unsigned_first = case((col(VisitNote.signed_at).is_(None), 0), else_=1)
    rows = (
        await session.execute(
            select(Visit, col(User.full_name), col(VisitNote.signed_at))
            .join(User, col(User.id) == col(Visit.patient_id))
            .outerjoin(VisitNote, col(VisitNote.visit_id) == col(Visit.id))
            .where(
                col(Visit.prescriber_id) == actor.user_id,
                col(Visit.status) == VisitStatus.finished,
            )
            .order_by(unsigned_first, col(Visit.start).desc())
            .limit(limit)
        )
    ).all()
    found = [PastVisit(visit, str(name), signed_at is not None) for visit, name, signed_at in rows]
    for patient_id in sorted({p.visit.patient_id for p in found}):
        audit.record(
            session,
            Action.read,
            "visit_list",
            patient_id=patient_id,
            detail={"view": "past_visits"},
        )
    return found
