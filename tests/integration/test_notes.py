"""Visit notes over the API: drafts that never overwrite each other, signing, addenda, access."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from telehealth.audit import AuditEntry
from telehealth.visits.models import NoteRevision
from tests.builders import Cast, login, make_visit, session_token

DRAFT = {
    "subjective": "Sleeping better.",
    "objective": "Calm, good eye contact.",
    "assessment": "GAD, improving.",
    "plan": "Continue sertraline 50 mg.",
}


@pytest.fixture
async def visit_id(sessionmaker, cast: Cast, clock) -> int:
    return await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now, status="waiting", location_state="NY"
    )


async def save(client: Any, visit_id: int, version: int, **fields: str) -> Any:
    return await client.put(f"/api/visits/{visit_id}/note", json={**fields, "version": version})


@pytest.mark.both_databases
async def test_a_stale_save_is_refused_with_the_current_text_and_nothing_is_lost(
    client, new_client, cast: Cast, visit_id: int
):
    other_tab = await new_client()
    await login(client, cast.bob)
    await login(other_tab, cast.bob)

    first = await save(client, visit_id, 0, **DRAFT)
    assert first.status == 200
    assert (await first.json())["version"] == 1

    # The second tab still thinks the note is new: its save must not overwrite the first.
    stale = await save(other_tab, visit_id, 0, subjective="Typed in the other tab.")
    assert stale.status == 409
    error = (await stale.json())["error"]
    assert error["code"] == "stale_version"
    assert "compare" in error["message"]
    assert error["current"]["version"] == 1
    assert error["current"]["subjective"] == DRAFT["subjective"]

    note = await (await client.get(f"/api/visits/{visit_id}/note")).json()
    assert note["subjective"] == DRAFT["subjective"]
    assert note["version"] == 1

    # The other tab merges and saves on top of the current version.
    merged = await save(other_tab, visit_id, 1, **{**DRAFT, "subjective": "Merged text."})
    assert merged.status == 200
    assert (await merged.json())["version"] == 2


@pytest.mark.both_databases
async def test_every_saved_version_is_kept_as_a_revision(
    client, sessionmaker, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    for version, plan in enumerate(["Plan A", "Plan B", "Plan C"]):
        response = await save(client, visit_id, version, plan=plan)
        assert response.status == 200
    note = await (await client.get(f"/api/visits/{visit_id}/note")).json()
    assert note["revisions"] == 3
    assert note["plan"] == "Plan C"
    async with sessionmaker() as session:
        plans = (
            (
                await session.execute(
                    select(NoteRevision.plan)
                    .where(NoteRevision.visit_id == visit_id)
                    .order_by(NoteRevision.version)
                )
            )
            .scalars()
            .all()
        )
    assert plans == ["Plan A", "Plan B", "Plan C"]


async def test_a_signed_note_is_locked_and_only_addenda_can_follow(
    client, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    early = await client.post(f"/api/visits/{visit_id}/note/addenda", json={"text": "Too early"})
    assert early.status == 409
    assert (await early.json())["error"]["code"] == "note_not_signed"

    await save(client, visit_id, 0, **DRAFT)
    signed = await client.post(f"/api/visits/{visit_id}/note/sign", json={"version": 1})
    assert signed.status == 200
    assert (await signed.json())["status"] == "signed"

    locked = await save(client, visit_id, 1, plan="Changed after signing")
    assert locked.status == 409
    assert (await locked.json())["error"]["code"] == "note_signed"
    again = await client.post(f"/api/visits/{visit_id}/note/sign")
    assert (await again.json())["error"]["code"] == "note_signed"

    addendum = await client.post(
        f"/api/visits/{visit_id}/note/addenda", json={"text": "Lab results reviewed: normal."}
    )
    assert addendum.status == 201
    note = await (await client.get(f"/api/visits/{visit_id}/note")).json()
    assert note["status"] == "signed"
    assert note["plan"] == DRAFT["plan"]
    assert [a["text"] for a in note["addenda"]] == ["Lab results reviewed: normal."]
    assert note["permissions"] == {"can_edit": False, "can_sign": False, "can_add_addendum": True}


async def test_signing_an_empty_note_or_a_version_not_seen_is_refused(
    client, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    empty = await client.post(f"/api/visits/{visit_id}/note/sign")
    assert (await empty.json())["error"]["code"] == "note_empty"
    await save(client, visit_id, 0, **DRAFT)
    await save(client, visit_id, 1, plan="Newer plan")
    stale = await client.post(f"/api/visits/{visit_id}/note/sign", json={"version": 1})
    assert stale.status == 409
    assert (await stale.json())["error"]["code"] == "stale_version"


async def test_the_patient_sees_the_signed_summary_only_never_a_draft(
    client, new_client, cast: Cast, visit_id: int, sessionmaker
):
    patient = await new_client()
    await login(client, cast.bob)
    await login(patient, cast.alice)
    assert (await patient.get(f"/api/visits/{visit_id}/note")).status == 404

    await save(client, visit_id, 0, **DRAFT)
    draft = await patient.get(f"/api/visits/{visit_id}/note")
    assert draft.status == 404

    await client.post(f"/api/visits/{visit_id}/note/sign")
    summary = await patient.get(f"/api/visits/{visit_id}/note")
    assert summary.status == 200
    body = await summary.json()
    assert body["plan"] == DRAFT["plan"]
    assert "revisions" not in body
    assert "permissions" not in body
    page = await patient.get(f"/visits/{visit_id}/summary")
    assert page.status == 200
    assert DRAFT["plan"] in await page.text()

    # A session opened by the visit's join link (and date of birth) reads the summary written
    # for the patient, never the clinician's note.
    linked = await new_client()
    token = await session_token(sessionmaker, cast.alice, visit_id=visit_id)
    linked.session.cookie_jar.update_cookies({"th_session": token})
    assert (await linked.get(f"/api/visits/{visit_id}/note")).status == 404
    assert (await linked.get(f"/visits/{visit_id}/summary")).status == 200


@pytest.mark.parametrize("who", ["alice", "charlie", "sam", "ada", "dana"])
async def test_only_the_visits_prescriber_may_write_the_note(
    client, cast: Cast, visit_id: int, who: str
):
    await login(client, getattr(cast, who))
    response = await save(client, visit_id, 0, **DRAFT)
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
    sign = await client.post(f"/api/visits/{visit_id}/note/sign")
    assert sign.status == 404
    addendum = await client.post(f"/api/visits/{visit_id}/note/addenda", json={"text": "x"})
    assert addendum.status == 404


@pytest.mark.parametrize("who", ["charlie", "sam", "ada", "dana"])
async def test_nobody_else_reads_the_note_and_they_cannot_tell_it_exists(
    client, new_client, cast: Cast, visit_id: int, who: str
):
    bob = await new_client()
    await login(bob, cast.bob)
    await save(bob, visit_id, 0, **DRAFT)
    await bob.post(f"/api/visits/{visit_id}/note/sign")
    await login(client, getattr(cast, who))
    existing = await client.get(f"/api/visits/{visit_id}/note")
    missing = await client.get(f"/api/visits/{visit_id + 999}/note")
    assert existing.status == missing.status == 404
    assert await existing.json() == await missing.json()


async def test_the_note_opens_for_writing_when_the_patient_checks_in(
    client, sessionmaker, cast: Cast, clock
):
    booked = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.bob)
    response = await save(client, booked, 0, **DRAFT)
    assert response.status == 409
    error = (await response.json())["error"]
    assert error["code"] == "visit_not_checked_in"
    assert "checks in" in error["message"]


async def test_note_saves_are_audited_without_the_text(
    client, sessionmaker, cast: Cast, visit_id: int
):
    await login(client, cast.bob)
    await save(client, visit_id, 0, **DRAFT)
    async with sessionmaker() as session:
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(AuditEntry.resource_type == "visit_note")
                )
            )
            .scalars()
            .all()
        )
    assert [(e.action, e.patient_id, e.user_id) for e in entries] == [
        ("create", cast.alice.id, cast.bob.id)
    ]
    assert DRAFT["plan"] not in str(entries[0].detail)


async def test_the_record_page_opens_for_the_visits_prescriber_only(
    client, new_client, sessionmaker, cast: Cast, clock
):
    booked = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now)
    await login(client, cast.bob)
    page = await client.get(f"/visits/{booked}/record")
    assert page.status == 200
    html = await page.text()
    assert f'data-visit-id="{booked}"' in html
    assert 'data-can-order="false"' in html
    assert "open when the patient checks in" in html
    for who in ("alice", "charlie", "sam", "ada"):
        other = await new_client()
        await login(other, getattr(cast, who))
        assert (await other.get(f"/visits/{booked}/record")).status == 404, who


@pytest.mark.both_databases
async def test_two_saves_at_the_same_instant_never_both_win(
    client, new_client, cast: Cast, visit_id: int
):
    other_tab = await new_client()
    await login(client, cast.bob)
    await login(other_tab, cast.bob)
    first, second = await asyncio.gather(
        save(client, visit_id, 0, plan="From tab one"),
        save(other_tab, visit_id, 0, plan="From tab two"),
    )
    assert sorted([first.status, second.status]) == [200, 409]
    loser = first if first.status == 409 else second
    winner_plan = (await (await client.get(f"/api/visits/{visit_id}/note")).json())["plan"]
    assert (await loser.json())["error"]["current"]["plan"] == winner_plan


async def test_finished_visits_with_unsigned_notes_wait_on_the_prescribers_home_page(
    client, new_client, sessionmaker, cast: Cast, clock
):
    drafted = await make_visit(
        sessionmaker, cast.alice, cast.bob, clock.now - timedelta(hours=2), status="finished"
    )
    untouched = await make_visit(
        sessionmaker, cast.dana, cast.bob, clock.now - timedelta(hours=4), status="finished"
    )
    running = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="in_progress")
    await login(client, cast.bob)
    await save(client, drafted, 0, **DRAFT)

    home = await (await client.get("/prescriber")).text()
    assert "Notes to sign (2)" in home
    assert f'href="/visits/{drafted}/record"' in home
    assert f'href="/visits/{untouched}/record"' in home
    assert f'href="/visits/{running}/record"' not in home  # the call is still on
    assert "Alice Able" in home

    signed = await client.post(f"/api/visits/{drafted}/note/sign")
    assert signed.status == 200, await signed.text()
    home = await (await client.get("/prescriber")).text()
    assert "Notes to sign (1)" in home
    assert f'href="/visits/{drafted}/record"' not in home

    other = await new_client()
    await login(other, cast.charlie)  # another prescriber has none of Bob's
    assert "Notes to sign" not in await (await other.get("/prescriber")).text()
