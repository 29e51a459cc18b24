"""Measurement-based care in real browsers: the patient answers on a phone from her link
(drafts survive a reload and a lost network), item 9 brings up crisis resources at once, the
prescriber's open dashboard shows the alert within 2 seconds and acknowledges it, and the
record's trend chart shows two visits with the medication change between them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telehealth import audit
from telehealth.signaling.rooms import dashboard_room
from telehealth.uow import unit_of_work
from telehealth.visits.models import MedicationEvent, PatientMedication
from tests.builders import Cast, login, make_visit
from tests.e2e.pages import page_sockets_in, sign_in

pytestmark = pytest.mark.e2e

# A Tuesday, 10:00 in New York: inside Bob's hours, 10 minutes before the visit.
NOW = datetime(2030, 3, 5, 15, 0, tzinfo=UTC)
START = NOW + timedelta(minutes=10)
FIRST = NOW - timedelta(days=28)
PHQ9_BEFORE = {"1": 3, "2": 3, "3": 2, "4": 2, "5": 2, "6": 2, "7": 2, "8": 2, "9": 0}  # 18


async def history(client: Any, sessionmaker: Any, cast: Cast, clock: Any) -> None:
    """Four weeks ago: a finished visit with a PHQ-9 of 18; two weeks ago sertraline started."""
    clock.set(FIRST - timedelta(hours=1))
    first = await make_visit(sessionmaker, cast.alice, cast.bob, FIRST)
    await login(client, cast.alice)
    answered = await client.put(
        f"/api/visits/{first}/questionnaires/phq9", json={"answers": PHQ9_BEFORE, "submit": True}
    )
    assert answered.status == 200, await answered.text()
    started = NOW - timedelta(days=14)
    async with unit_of_work(sessionmaker, audit.AuditContext(role="test")) as session:
        from telehealth.visits.models import Visit, VisitStatus

        visit = await session.get(Visit, first)
        assert visit is not None
        visit.status = VisitStatus.finished
        line = PatientMedication(
            patient_id=cast.alice.id,
            medication_id="sertraline-tablet",
            medication_name="sertraline 50 mg tablet",
            dose="50 mg",
            route="oral",
            frequency="once daily",
            started_at=started,
        )
        session.add(line)
        await session.flush()
        assert line.id is not None
        session.add(
            MedicationEvent(
                patient_medication_id=line.id,
                kind="started",
                dose="50 mg",
                frequency="once daily",
                actor_id=cast.bob.id,
                at=started,
            )
        )
    clock.set(NOW)


async def test_item_9_shows_crisis_resources_and_alerts_the_open_dashboard(
    new_page: Any, client: Any, app: Any, sessionmaker: Any, cast: Cast, clock: Any
) -> None:
    await history(client, sessionmaker, cast, clock)
    await login(client, cast.sam)
    hours = await client.put(
        f"/api/prescribers/{cast.bob.id}/availability",
        json={"weekly": [{"weekday": 1, "start": "09:00", "end": "17:00"}], "exceptions": []},
    )
    assert hours.status == 200
    booked = await client.post(
        "/api/visits",
        json={
            "patient_id": cast.alice.id,
            "prescriber_id": cast.bob.id,
            "start": START.isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert booked.status == 201, await booked.text()
    visit = await booked.json()

    # Bob's dashboard is open before anything happens.
    bob = await sign_in(await new_page(), "bob")
    await bob.wait_for_url("**/prescriber")
    await bob.get_by_text("No open safety alerts.").wait_for()
    await page_sockets_in(app, dashboard_room(cast.bob.id))  # its socket is watching

    # Alice opens her link on a phone; the questions come before the device check.
    alice = await new_page(viewport={"width": 375, "height": 740})
    await alice.goto(visit["join_url"])
    await alice.get_by_label("Date of birth").fill("1990-05-17")
    await alice.get_by_role("button", name="Continue").click()
    await alice.wait_for_url(f"**/visits/{visit['id']}/questionnaires")
    phq9 = alice.locator("form[data-instrument=phq9]")

    # A draft survives a reload, and an answer given offline is kept and sent later.
    await phq9.locator("#q-phq9-1").get_by_label("Several days").check()
    await alice.get_by_text("Your answers are saved.").wait_for()
    await alice.context.set_offline(True)
    await phq9.locator("#q-phq9-2").get_by_label("More than half the days").check()
    await alice.get_by_text("You are offline.").wait_for()
    await alice.context.set_offline(False)
    await alice.evaluate("window.dispatchEvent(new Event('online'))")
    await alice.get_by_text("Your answers are saved.").wait_for()
    await alice.reload()
    assert await phq9.locator("#q-phq9-1").get_by_label("Several days").is_checked()
    assert await phq9.locator("#q-phq9-2").get_by_label("More than half the days").is_checked()

    # Nothing covers the page on a phone: the form is no wider than the screen.
    assert await alice.evaluate("document.documentElement.scrollWidth") <= 375

    for item in range(3, 10):
        answer = "Several days" if item == 9 else "Not at all"
        await phq9.locator(f"#q-phq9-{item}").get_by_label(answer).check()
    await phq9.get_by_role("button", name="Send my PHQ-9 answers").click()
    sent_at = time.monotonic()

    crisis = alice.get_by_role("alert").filter(has_text="988 Suicide & Crisis Lifeline")
    await crisis.wait_for()
    assert await alice.get_by_role("link", name="Call 988").get_attribute("href") == "tel:988"
    assert await alice.get_by_role("link", name="Call 911").is_visible()
    await alice.get_by_text("Your answers have reached the practice").wait_for()

    # The dashboard shows it without a reload, within 2 seconds, and announces it.
    item = bob.locator(".alert-item").filter(has_text="Alice Able")
    await item.wait_for(timeout=2_000)
    assert time.monotonic() - sent_at < 2.5
    assert "Alice Able" in (await bob.locator("#alerts-announce").text_content() or "")
    assert await bob.locator("#alerts-count").text_content() == "1"

    await item.get_by_label("Contacted the patient").check()
    await item.get_by_label("Note").fill("Called Alice; she is safe at home; safety plan reviewed.")
    await item.get_by_role("button", name="Acknowledge alert").click()
    await bob.get_by_text("No open safety alerts.").wait_for()
    await login(client, cast.bob)
    open_alerts = await (await client.get("/api/alerts?status=open")).json()
    assert open_alerts["alerts"] == []

    # Alice finishes the GAD-7 and goes on to the device check.
    gad7 = alice.locator("form[data-instrument=gad7]")
    for n in range(1, 8):
        await gad7.locator(f"#q-gad7-{n}").get_by_label("Several days").check()
    await gad7.get_by_role("button", name="Send my GAD-7 answers").click()
    await alice.get_by_role("link", name="Continue to your visit").click()
    await alice.wait_for_url(f"**/visit/{visit['id']}")
    await alice.get_by_role("button", name="My camera and microphone work").wait_for()

    # The record shows both PHQ-9 scores with the sertraline start between them.
    await bob.goto(f"/visits/{visit['id']}/record")
    chart = bob.locator("svg[data-trend-chart]")
    await chart.wait_for()
    points = await chart.locator("[data-point][data-instrument=phq9]").evaluate_all(
        "els => els.map(e => [e.dataset.at, Number(e.dataset.score)])"
    )
    assert [score for _at, score in points] == [18, 4]
    marks = await chart.locator("[data-med-mark]").evaluate_all(
        "els => els.map(e => [e.dataset.at, e.dataset.kind])"
    )
    assert len(marks) == 1 and marks[0][1] == "started"
    assert points[0][0] < marks[0][0] < points[1][0]
    assert await chart.get_attribute("role") == "img"
    summary = bob.locator("[data-measure=phq9]")
    assert "14 points lower" in (await summary.text_content() or "")
    assert "Response" in (await summary.text_content() or "")
    await bob.get_by_text("The same as a table").click()
    assert await bob.get_by_role(
        "cell", name="Started: sertraline 50 mg tablet 50 mg once daily"
    ).is_visible()

    # Alice sees her own course in plain words on her home page.
    home = await sign_in(await new_page(viewport={"width": 375, "height": 740}), "alice")
    await home.wait_for_url("**/patient")
    plain = await home.locator("[data-plain=phq9]").text_content()
    assert plain and "14 points lower than your first score" in plain
    assert bob.console_errors == []  # (the phone logs its offline moment)


async def test_the_reminders_link_opens_the_questions_days_before_the_visit(
    new_page: Any, sessionmaker: Any, cast: Cast, clock: Any, settings: Any
) -> None:
    from telehealth.visits import joinlinks
    from telehealth.visits.models import Visit

    clock.set(NOW)
    visit_id = await make_visit(sessionmaker, cast.alice, cast.bob, NOW + timedelta(days=2))
    async with sessionmaker() as session:
        visit = await session.get(Visit, visit_id)
        link = joinlinks.questionnaire_url(settings.public_url, visit, settings.secret_key)

    page = await new_page(viewport={"width": 375, "height": 740})
    await page.goto(link)
    await page.get_by_label("Date of birth").fill("1990-01-01")
    await page.get_by_role("button", name="Continue").click()
    await page.get_by_text("do not match a visit").wait_for()
    await page.get_by_label("Date of birth").fill("1990-05-17")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url(f"**/visits/{visit_id}/questionnaires")
    await page.locator("#q-phq9-1").get_by_label("Several days").check()
    await page.get_by_text("Your answers are saved.").wait_for()
