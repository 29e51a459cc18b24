"""Questionnaires before a visit, the course of measures, and safety alerts, through the real
server on SQLite and PostgreSQL: drafts that resume, one submission, who may read what, the
alert in the submission's transaction, its push, acknowledgement, escalation and audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlmodel import col

from telehealth.audit import AuditEntry
from telehealth.measures.models import QuestionnaireResponse, SafetyAlert
from telehealth.notify.models import EmailKind, VisitEmail
from tests.builders import (
    Cast,
    VisitsSocket,
    login,
    make_user,
    make_visit,
    session_token,
)

pytestmark = pytest.mark.timeout(60)

PHQ9_MILD_NO_RISK = {"1": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1, "7": 1, "8": 0, "9": 0}
PHQ9_WITH_ITEM9 = {**PHQ9_MILD_NO_RISK, "9": 1}
GAD7_MODERATE = {"1": 2, "2": 2, "3": 2, "4": 2, "5": 1, "6": 1, "7": 1}


async def put(client: Any, visit: int, instrument: str, answers: Any, submit: bool = False):
    response = await client.put(
        f"/api/visits/{visit}/questionnaires/{instrument}",
        json={"answers": answers, "submit": submit},
    )
    return response.status, await response.json()


async def audit_details(sessionmaker, resource_type: str) -> list[dict[str, Any]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(AuditEntry)
            .where(col(AuditEntry.resource_type) == resource_type)
            .order_by(col(AuditEntry.seq))
        )
        return [
            {"action": e.action, "patient_id": e.patient_id, **e.detail} for e in rows.scalars()
        ]


@pytest.fixture
async def visit(sessionmaker, cast: Cast, clock) -> int:
    return await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=1))


@pytest.mark.both_databases
async def test_a_draft_resumes_and_is_submitted_once_with_a_server_score(
    client, new_client, cast: Cast, visit: int
):
    await login(client, cast.alice)
    listed = await (await client.get(f"/api/visits/{visit}/questionnaires")).json()
    assert [(q["instrument"], q["status"]) for q in listed["questionnaires"]] == [
        ("phq9", "not_started"),
        ("gad7", "not_started"),
    ]
    status, body = await put(client, visit, "phq9", {"1": 1, "2": 1})
    assert status == 200
    assert (body["status"], body["score"], body["severity"]) == ("draft", None, None)

    # Another device (a reload, a new tab) resumes the same draft.
    other = await new_client()
    await login(other, cast.alice)
    listed = await (await other.get(f"/api/visits/{visit}/questionnaires")).json()
    phq9 = listed["questionnaires"][0]
    assert (phq9["status"], phq9["answers"]) == ("draft", {"1": 1, "2": 1})

    # Submitting with questions unanswered is refused and the draft is kept.
    status, body = await put(other, visit, "phq9", {"3": 1}, submit=True)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert "4, 5, 6, 7, 8, 9" in body["error"]["message"]
    listed = await (await client.get(f"/api/visits/{visit}/questionnaires")).json()
    assert listed["questionnaires"][0]["answers"] == {"1": 1, "2": 1}

    status, body = await put(client, visit, "phq9", PHQ9_MILD_NO_RISK, submit=True)
    assert status == 200
    assert (body["status"], body["score"], body["severity"]) == ("submitted", 7, "mild")
    assert body["safety_alert"] is False and body["crisis_resources"] == []

    status, body = await put(client, visit, "phq9", PHQ9_MILD_NO_RISK, submit=True)
    assert status == 409 and body["error"]["code"] == "already_submitted"
    status, body = await put(client, visit, "phq9", {"1": 3})
    assert status == 409 and body["error"]["code"] == "already_submitted"


@pytest.mark.parametrize(
    ("answers", "fragment"),
    [
        ({"1": 4}, "from 0 to 3"),
        ({"12": 1}, "has no question"),
        ({"1": "often"}, "from 0 to 3"),
        ("all of them", "object"),
    ],
)
async def test_bad_answers_get_a_clear_error_and_lose_nothing(
    client, cast: Cast, visit: int, answers, fragment
):
    await login(client, cast.alice)
    assert (await put(client, visit, "gad7", {"1": 2}))[0] == 200
    status, body = await put(client, visit, "gad7", answers)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert fragment in body["error"]["message"]
    listed = await (await client.get(f"/api/visits/{visit}/questionnaires")).json()
    assert listed["questionnaires"][1]["answers"] == {"1": 2}


async def test_an_unknown_questionnaire_says_which_ones_exist(client, cast: Cast, visit: int):
    await login(client, cast.alice)
    status, body = await put(client, visit, "beck", {"1": 1})
    assert status == 422
    assert "gad7" in body["error"]["message"] and "phq9" in body["error"]["message"]


async def test_who_may_read_and_answer_a_visits_questionnaires(
    client, new_client, sessionmaker, cast: Cast, visit: int, clock
):
    other_visit = await make_visit(
        sessionmaker, cast.alice, cast.charlie, clock.now + timedelta(days=2)
    )
    await login(client, cast.alice)
    await put(client, visit, "phq9", {"1": 2})
    url = f"/api/visits/{visit}/questionnaires"

    # Its prescriber reads; nobody else sees that it exists.
    bob = await new_client()
    await login(bob, cast.bob)
    assert (await bob.get(url)).status == 200
    assert (await put(bob, visit, "phq9", {"1": 0}))[0] == 404
    for person in (cast.charlie, cast.sam, cast.ada, cast.dana):
        c = await new_client()
        await login(c, person)
        response = await c.get(url)
        assert response.status == 404, person.username
        assert (await response.json())["error"]["code"] == "not_found"
        assert (await put(c, visit, "phq9", {"1": 0}))[0] == 404

    # A join-link session answers its own visit's questionnaires, not another's.
    link = await new_client()
    link.session.cookie_jar.update_cookies(
        {"th_session": await session_token(sessionmaker, cast.alice, visit_id=visit, now=clock.now)}
    )
    assert (await put(link, visit, "phq9", {"2": 1}))[0] == 200
    assert (await link.get(f"/api/visits/{other_visit}/questionnaires")).status == 404
    assert (await put(link, other_visit, "phq9", {"2": 1}))[0] == 404

    denied = [
        d
        for d in await audit_details(sessionmaker, "questionnaire_response")
        if d["action"] == "access-denied"
    ]
    assert denied and all(d["patient_id"] == cast.alice.id for d in denied)


async def test_item_9_opens_an_alert_shown_to_the_prescriber_at_once(
    client, server, new_client, sessionmaker, cast: Cast, visit: int, clock
):
    bob_socket = VisitsSocket(
        str(server.make_url("/")), await session_token(sessionmaker, cast.bob, now=clock.now)
    )
    await bob_socket.connect()
    try:
        assert (await bob_socket.call("watch_dashboard", {}))["ok"] is True
        await login(client, cast.alice)
        status, body = await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)
        assert status == 200
        assert body["safety_alert"] is True
        assert body["crisis_resources"][0]["name"] == "988 Suicide & Crisis Lifeline"
        assert "988" in body["crisis_resources"][0]["contact"]
        assert any("911" in r["contact"] for r in body["crisis_resources"])

        (pushed,) = await bob_socket.wait_for("safety_alert", timeout=2)
        assert pushed["patient_name"] == "Alice Able"
        assert pushed["visit_id"] == visit
        alert_id = pushed["alert_id"]
    finally:
        await bob_socket.close()

    bob = await new_client()
    await login(bob, cast.bob)
    listed = await (await bob.get("/api/alerts?status=open")).json()
    assert [(a["id"], a["kind"], a["status"], a["escalated"]) for a in listed["alerts"]] == [
        (alert_id, "suicide_risk", "open", False)
    ]
    charlie = await new_client()
    await login(charlie, cast.charlie)
    assert (await (await charlie.get("/api/alerts?status=open")).json())["alerts"] == []
    refused = await charlie.post(
        f"/api/alerts/{alert_id}/acknowledge", json={"action": "contacted_patient", "note": "x"}
    )
    assert refused.status == 404
    ada = await new_client()
    await login(ada, cast.ada)
    assert [a["id"] for a in (await (await ada.get("/api/alerts")).json())["alerts"]] == [alert_id]

    no_note = await bob.post(
        f"/api/alerts/{alert_id}/acknowledge", json={"action": "contacted_patient", "note": " "}
    )
    assert no_note.status == 422 and (await no_note.json())["error"]["field"] == "note"
    bad_action = await bob.post(
        f"/api/alerts/{alert_id}/acknowledge", json={"action": "ignored", "note": "called"}
    )
    assert bad_action.status == 422
    done = await bob.post(
        f"/api/alerts/{alert_id}/acknowledge",
        json={"action": "contacted_patient", "note": "Called her; safety plan reviewed."},
    )
    assert done.status == 200, await done.text()
    assert (await (await bob.get("/api/alerts?status=open")).json())["alerts"] == []
    again = await bob.post(
        f"/api/alerts/{alert_id}/acknowledge",
        json={"action": "contacted_patient", "note": "again"},
    )
    assert again.status == 409

    events = [d["event"] for d in await audit_details(sessionmaker, "safety_alert") if "event" in d]
    assert events[0] == "opened"
    assert "shown" in events
    assert events[-1] == "acknowledged"
    assert all(
        d["patient_id"] == cast.alice.id for d in await audit_details(sessionmaker, "safety_alert")
    )


async def test_no_alert_without_item_9_and_none_for_gad7(
    client, sessionmaker, cast: Cast, visit: int
):
    await login(client, cast.alice)
    assert (await put(client, visit, "phq9", PHQ9_MILD_NO_RISK, submit=True))[1][
        "safety_alert"
    ] is False
    status, body = await put(client, visit, "gad7", GAD7_MODERATE, submit=True)
    assert (status, body["score"], body["severity"], body["safety_alert"]) == (
        200,
        11,
        "moderate",
        False,
    )
    async with sessionmaker() as session:
        assert (await session.execute(select(func.count()).select_from(SafetyAlert))).scalar() == 0


@pytest.mark.both_databases
async def test_a_submission_is_never_kept_without_its_alert(
    client, sessionmaker, cast: Cast, visit: int
):
    """If the alert cannot be written, the submission is not written either (one
    transaction): the answers stay a draft, never a silently dropped alert."""
    await login(client, cast.alice)
    await put(client, visit, "phq9", PHQ9_WITH_ITEM9)
    async with sessionmaker() as session:
        await session.execute(text("ALTER TABLE safety_alerts RENAME TO safety_alerts_away"))
        await session.commit()
    try:
        status, _body = await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)
        assert status == 500
    finally:
        async with sessionmaker() as session:
            await session.execute(text("ALTER TABLE safety_alerts_away RENAME TO safety_alerts"))
            await session.commit()
    async with sessionmaker() as session:
        row = (await session.execute(select(QuestionnaireResponse))).scalars().one()
        assert (row.status.value, row.score) == ("draft", None)
    status, body = await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)
    assert (status, body["safety_alert"]) == (200, True)


@pytest.mark.both_databases
async def test_measures_are_listed_oldest_first_for_the_patient_and_their_prescriber(
    client, new_client, sessionmaker, cast: Cast, clock
):
    first = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(hours=1))
    second = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=30))
    await login(client, cast.alice)
    await put(client, first, "phq9", {**PHQ9_MILD_NO_RISK, "1": 3, "2": 3}, submit=True)
    clock.advance(days=29)
    await login(client, cast.alice)  # a month later: a new sign-in
    await put(client, second, "phq9", PHQ9_MILD_NO_RISK, submit=True)
    await put(client, second, "gad7", GAD7_MODERATE, submit=True)

    body = await (await client.get(f"/api/patients/{cast.alice.id}/measures")).json()
    assert [(m["instrument"], m["visit_id"], m["score"]) for m in body["measures"]] == [
        ("phq9", first, 11),
        ("phq9", second, 7),
        ("gad7", second, 11),
    ]
    only = await (
        await client.get(f"/api/patients/{cast.alice.id}/measures?instrument=gad7")
    ).json()
    assert [m["instrument"] for m in only["measures"]] == ["gad7"]

    # Bob treats Alice once she has come to one of his visits (checked in).
    bob = await new_client()
    await login(bob, cast.bob)
    assert (await bob.get(f"/api/patients/{cast.alice.id}/measures")).status == 404
    await make_visit(sessionmaker, cast.alice, cast.bob, clock.now, status="finished")
    assert (await bob.get(f"/api/patients/{cast.alice.id}/measures")).status == 200
    for person in (cast.charlie, cast.sam, cast.dana):
        c = await new_client()
        await login(c, person)
        assert (await c.get(f"/api/patients/{cast.alice.id}/measures")).status == 404


async def test_a_submission_exports_as_valid_fhir_r4_with_loinc_codes(
    client, sessionmaker, cast: Cast, visit: int
):
    from fhir.resources.R4B.bundle import Bundle

    await login(client, cast.alice)
    await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)
    (measure,) = (await (await client.get(f"/api/patients/{cast.alice.id}/measures")).json())[
        "measures"
    ]
    response = await client.get(f"/api/questionnaire-responses/{measure['id']}/fhir")
    assert response.status == 200
    assert response.content_type == "application/fhir+json"
    bundle = Bundle.model_validate(await response.json())
    resources = [entry.resource for entry in bundle.entry]
    qr = resources[0]
    assert qr.__resource_type__ == "QuestionnaireResponse" and qr.status == "completed"
    assert [i.linkId for i in qr.item] == [str(n) for n in range(1, 10)]
    assert qr.item[8].answer[0].valueCoding.code == "LA6569-3"  # "Several days"
    total = resources[1]
    assert total.code.coding[0].system == "http://loinc.org"
    assert (total.code.coding[0].code, total.valueInteger) == ("44261-6", 8)
    item9 = next(r for r in resources[2:] if r.code.coding[0].code == "44260-8")
    assert item9.valueCodeableConcept.coding[0].code == "LA6569-3"
    exports = [d for d in await audit_details(sessionmaker, "questionnaire_response")]
    assert any(d["action"] == "export" and d.get("format") == "fhir-r4" for d in exports)


@pytest.mark.both_databases
async def test_escalation_happens_once_with_two_processes(
    settings, sessionmaker, cast: Cast, visit: int, clock, client
):
    """Two server processes on one database, the clock moved past the escalation time:
    exactly one escalation, one email per administrator with an address, one audit entry."""
    from telehealth.app import create_app
    from telehealth.keys import ENGINE, ESCALATOR

    await make_user(sessionmaker, "admin", "avery", email="avery@example.org")
    await make_user(sessionmaker, "admin", "blake", email="blake@example.org")
    await login(client, cast.alice)
    await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)

    apps = [create_app(settings, clock=clock), create_app(settings, clock=clock)]
    escalators = [app[ESCALATOR] for app in apps]
    try:
        clock.advance(minutes=settings.safety_escalation_minutes - 1)
        assert await asyncio.gather(*(e.run_once() for e in escalators)) == [[], []]
        clock.advance(minutes=2)
        results = await asyncio.gather(*(e.run_once() for e in escalators))
        assert sorted(len(r) for r in results) == [0, 1]
        assert await asyncio.gather(*(e.run_once() for e in escalators)) == [[], []]
    finally:
        for app in apps:
            await app[ENGINE].dispose()

    async with sessionmaker() as session:
        emails = (
            (
                await session.execute(
                    select(VisitEmail).where(col(VisitEmail.kind) == EmailKind.safety_escalation)
                )
            )
            .scalars()
            .all()
        )
        alert = (await session.execute(select(SafetyAlert))).scalars().one()
    assert alert.escalated_at is not None
    assert len(emails) == 2  # Avery and Blake; Ada has no address on file
    assert {e.alert_id for e in emails} == {alert.id}
    escalated = [
        d
        for d in await audit_details(sessionmaker, "safety_alert")
        if d.get("event") == "escalated"
    ]
    assert len(escalated) == 1 and escalated[0]["patient_id"] == cast.alice.id
    listed = await (await client.get("/api/alerts")).json()  # Alice: not hers to list
    assert "error" in listed


async def test_an_escalated_alert_reaches_the_administrators_dashboard(
    app, server, client, sessionmaker, cast: Cast, visit: int, clock
):
    from telehealth.keys import ESCALATOR

    ada_socket = VisitsSocket(
        str(server.make_url("/")), await session_token(sessionmaker, cast.ada, now=clock.now)
    )
    await ada_socket.connect()
    try:
        assert (await ada_socket.call("watch_dashboard", {}))["ok"] is True
        await login(client, cast.alice)
        await put(client, visit, "phq9", PHQ9_WITH_ITEM9, submit=True)
        assert ada_socket.received("safety_alert") == []  # not before it is escalated
        clock.advance(minutes=16)
        await app[ESCALATOR].run_once()
        (pushed,) = await ada_socket.wait_for("safety_alert", timeout=2)
        assert pushed["escalated"] is True and pushed["patient_name"] == "Alice Able"
    finally:
        await ada_socket.close()


async def test_the_reminder_link_opens_only_the_questionnaires_days_before(
    client, new_client, sessionmaker, cast: Cast, clock
):
    from telehealth.visits import joinlinks
    from telehealth.visits.models import Visit

    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(days=2))
    async with sessionmaker() as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        url = joinlinks.questionnaire_url("http://x", visit, "test-secret-key-" + "x" * 32)
    token = url.rsplit("/", 1)[1]

    wrong = await client.post(
        "/api/questionnaire-link", json={"token": token, "date_of_birth": "1990-01-01"}
    )
    assert wrong.status == 404
    opened = await client.post(
        "/api/questionnaire-link", json={"token": token, "date_of_birth": "1990-05-17"}
    )
    assert opened.status == 200, await opened.text()
    assert (await opened.json())["next"] == f"/visits/{visit_id}/questionnaires"
    assert (await put(client, visit_id, "phq9", {"1": 1}))[0] == 200
    # That session opens nothing else: not the visit, not its call, not the chart.
    assert (await client.get(f"/api/visits/{visit_id}")).status == 404
    assert (await client.get(f"/visit/{visit_id}", allow_redirects=False)).status == 404
    assert (await client.get(f"/api/patients/{cast.alice.id}/measures")).status in (403, 404)
    # The ordinary join link still opens only 30 minutes before the start.
    joined = await (await new_client()).post(
        "/api/join", json={"token": token, "date_of_birth": "1990-05-17"}
    )
    assert joined.status != 200


async def test_a_new_patients_alert_stays_on_the_visit_record_until_acknowledged(
    client, new_client, sessionmaker, cast: Cast, clock
):
    """Before a first visit the prescriber does not treat the patient yet (no chart), but the
    alert their answers raised is on that visit's record until it is acknowledged."""
    first = await make_visit(
        sessionmaker,
        cast.dana,
        cast.bob,
        clock.now + timedelta(days=1),
        visit_type="initial_evaluation",
    )
    dana = await new_client()
    await login(dana, cast.dana)
    status, body = await put(dana, first, "phq9", PHQ9_WITH_ITEM9, submit=True)
    assert (status, body["safety_alert"]) == (200, True)

    await login(client, cast.bob)
    page = await (await client.get(f"/visits/{first}/record")).text()
    assert "data-record-alert=" in page
    assert "Earlier scores show once the patient has come to one of your visits" in page
    (alert,) = (await (await client.get("/api/alerts?status=open")).json())["alerts"]
    done = await client.post(
        f"/api/alerts/{alert['id']}/acknowledge",
        json={"action": "contacted_patient", "note": "Spoke with Dana by phone."},
    )
    assert done.status == 200
    page = await (await client.get(f"/visits/{first}/record")).text()
    assert "data-record-alert=" not in page
    shown = [
        d for d in await audit_details(sessionmaker, "safety_alert") if d.get("event") == "shown"
    ]
    assert any(d.get("where") == "visit_record" for d in shown)
