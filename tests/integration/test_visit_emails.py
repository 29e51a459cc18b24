"""Patients are emailed when a visit is booked, moved or cancelled: through a real SMTP
server (aiosmtpd on loopback), from an outbox written in the booking's own transaction."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiosmtpd.controller import Controller
from sqlmodel import select

from telehealth.app import create_app
from telehealth.measures.mailfacts import MeasuresMailFacts
from telehealth.notify.mailer import Mailer
from telehealth.notify.models import EmailKind, EmailStatus, VisitEmail
from tests.builders import (
    Cast,
    book_telehealth,
    free_port,
    login,
    make_user,
    make_visit,
    open_hours,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)
NEW_YORK = ZoneInfo("America/New_York")


class Inbox:
    """What the SMTP server received."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    async def wait_for(self, count: int, timeout: float = 15) -> list[Any]:
        await eventually(
            lambda: len(self.messages) >= count, timeout=timeout, what=f"{count} emails arrive"
        )
        return self.messages


def mailer_for(settings: Any, smtp_url: str, sessionmaker: Any, clock: Any) -> Mailer:
    """A mailer of its own (as app.py wires it), sending to the test's SMTP server."""
    settings = settings.model_copy(update={"smtp_url": smtp_url})
    return Mailer(settings, sessionmaker, clock, MeasuresMailFacts.from_settings(settings))


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, f"smtp://127.0.0.1:{controller.port}"
    controller.stop()


def in_two_days_at(clock, hour: int) -> datetime:
    day = (clock.now + timedelta(days=2)).astimezone(NEW_YORK)
    return day.replace(hour=hour, minute=0, second=0, microsecond=0)


def invite_of(message: Any) -> Any:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def text_of(message: Any) -> str:
    body: str = message.get_body(preferencelist=("plain",)).get_content()
    return body


@pytest.mark.both_databases
async def test_booking_moving_and_cancelling_each_email_the_patient(
    settings, clock, cast: Cast, sessionmaker, smtp
):
    inbox, smtp_url = smtp
    app = create_app(settings.model_copy(update={"smtp_url": smtp_url}), clock=clock)
    async with TestClient(TestServer(app)) as client:
        start = in_two_days_at(clock, 10)
        booked = await book_telehealth(client, sessionmaker, cast, start)

        (first,) = await inbox.wait_for(1)
        assert first["To"] == "alice@example.org"
        assert first["Subject"].startswith("Booked: your video visit on ")
        assert "EST" in first["Subject"] or "EDT" in first["Subject"]
        body = text_of(first)
        assert booked["join_url"] in body
        assert "Dr Bob Baker" in body
        calendar, event = invite_of(first)
        assert event.decoded("dtstart") == start
        assert int(event["sequence"]) == 0
        assert str(calendar["method"]) == "PUBLISH"

        later = in_two_days_at(clock, 14)
        moved = await client.post(
            f"/api/visits/{booked['id']}/reschedule", json={"start": later.isoformat()}
        )
        assert moved.status == 200, await moved.text()
        new_link = (await moved.json())["join_url"]
        second = (await inbox.wait_for(2))[1]
        assert second["Subject"].startswith("Moved: your video visit is now on ")
        assert new_link in text_of(second)
        assert booked["join_url"] not in text_of(second)
        _calendar, event = invite_of(second)
        assert event.decoded("dtstart") == later
        assert int(event["sequence"]) == 1

        cancelled = await client.post(
            f"/api/visits/{booked['id']}/cancel", json={"reason": "Patient asked"}
        )
        assert cancelled.status == 200
        third = (await inbox.wait_for(3))[2]
        assert third["Subject"].startswith("Cancelled: your video visit on ")
        assert "/join/" not in text_of(third)
        assert "Patient asked" not in text_of(third)  # the reason stays in the practice
        calendar, event = invite_of(third)
        assert str(calendar["method"]) == "CANCEL"
        assert int(event["sequence"]) == 2

        # Each email that went out is in the audit trail, under the patient.
        await login(client, cast.ada)
        entries = (await (await client.get(f"/api/audit?patient_id={cast.alice.id}")).json())[
            "entries"
        ]
        sent = [e for e in entries if e["resource_type"] == "visit_email"]
        assert sorted(e["detail"]["kind"] for e in sent) == ["booked", "cancelled", "rescheduled"]
        assert all(e["action"] == "export" for e in sent)


@pytest.mark.both_databases
async def test_a_refused_booking_emails_nobody(settings, clock, cast: Cast, sessionmaker, smtp):
    inbox, smtp_url = smtp
    app = create_app(settings.model_copy(update={"smtp_url": smtp_url}), clock=clock)
    async with TestClient(TestServer(app)) as client:
        start = in_two_days_at(clock, 10)
        await book_telehealth(client, sessionmaker, cast, start)
        erin = await make_user(sessionmaker, "patient", "erin")  # in New York, with an email
        taken = await client.post(
            "/api/visits",
            json={
                "patient_id": erin.id,
                "prescriber_id": cast.bob.id,
                "start": start.isoformat(),
                "visit_type": "follow_up",
                "modality": "telehealth",
            },
        )
        assert taken.status == 409
        await inbox.wait_for(1)
    # The outbox holds Alice's emails only: nothing was written for the refused booking, so
    # nothing more can be sent.
    assert [m["To"] for m in inbox.messages] == ["alice@example.org"]
    async with sessionmaker() as session:
        rows = (await session.execute(select(VisitEmail))).scalars().all()
    assert {(r.patient_id, r.kind.value) for r in rows} == {
        (cast.alice.id, "booked"),
        (cast.alice.id, "reminder"),
    }


@pytest.mark.both_databases
async def test_mail_that_cannot_go_is_kept_and_sent_when_the_server_is_back(
    settings, clock, cast: Cast, sessionmaker, smtp
):
    inbox, smtp_url = smtp
    down = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(settings.model_copy(update={"smtp_url": down}), clock=clock)
    async with TestClient(TestServer(app)) as client:
        booked = await book_telehealth(client, sessionmaker, cast, in_two_days_at(clock, 10))

        async def tried_once() -> VisitEmail | None:
            async with sessionmaker() as session:
                row = (
                    await session.execute(
                        select(VisitEmail).where(VisitEmail.kind == EmailKind.booked)
                    )
                ).scalar_one()
            return row if row.attempts else None

        row = await eventually(tried_once, timeout=10, what="the mailer tried the booking email")
    assert row.status is EmailStatus.pending  # the booking stands; the email waits
    assert row.attempts == 1
    assert row.last_error and "alice" not in row.last_error

    # The mail server is back; the retry is due a minute later.
    mailer = mailer_for(settings, smtp_url, sessionmaker, clock)
    assert await mailer.deliver_due() == 0  # not yet due
    clock.advance(minutes=1, seconds=1)
    assert await mailer.deliver_due() == 1
    (message,) = inbox.messages
    assert booked["join_url"] in text_of(message)


@pytest.mark.both_databases
async def test_only_the_latest_change_is_sent_when_changes_outrun_the_mailer(
    client, clock, cast: Cast, sessionmaker, settings, smtp
):
    inbox, smtp_url = smtp
    # This app has no SMTP set: the outbox fills, nothing is sent yet.
    booked = await book_telehealth(client, sessionmaker, cast, in_two_days_at(clock, 10))
    for hour in (11, 12):
        moved = await client.post(
            f"/api/visits/{booked['id']}/reschedule",
            json={"start": in_two_days_at(clock, hour).isoformat()},
        )
        assert moved.status == 200, await moved.text()
    latest_link = (await moved.json())["join_url"]

    mailer = mailer_for(settings, smtp_url, sessionmaker, clock)
    assert await mailer.deliver_due() == 1
    (message,) = inbox.messages
    assert latest_link in text_of(message)
    assert "12:00 PM" in message["Subject"]
    async with sessionmaker() as session:
        rows = (await session.execute(select(VisitEmail).order_by(VisitEmail.id))).scalars().all()
    assert [(r.kind.value, r.status.value) for r in rows if r.kind is not EmailKind.reminder] == [
        ("booked", "superseded"),
        ("rescheduled", "superseded"),
        ("rescheduled", "sent"),
    ]


@pytest.mark.both_databases
async def test_a_reminder_goes_a_day_before_and_follows_the_visit_when_it_moves(
    client, clock, cast: Cast, sessionmaker, settings, smtp
):
    inbox, smtp_url = smtp
    mailer = mailer_for(settings, smtp_url, sessionmaker, clock)
    start = in_two_days_at(clock, 10)
    booked = await book_telehealth(client, sessionmaker, cast, start)
    assert await mailer.deliver_due() == 1  # the booking email; the reminder waits
    later = start + timedelta(days=1)
    moved = await client.post(
        f"/api/visits/{booked['id']}/reschedule", json={"start": later.isoformat()}
    )
    assert moved.status == 200, await moved.text()
    assert await mailer.deliver_due() == 1  # the move

    clock.set(start - timedelta(hours=24) + timedelta(minutes=1))
    assert await mailer.deliver_due() == 0  # the first reminder was for the old time
    clock.set(later - timedelta(hours=24) + timedelta(minutes=1))
    assert await mailer.deliver_due() == 1
    reminder = inbox.messages[-1]
    assert reminder["Subject"].startswith("Reminder: your video visit on ")
    assert (await moved.json())["join_url"] in text_of(reminder)
    _calendar, event = invite_of(reminder)
    assert event.decoded("dtstart") == later


async def test_no_reminder_for_a_visit_booked_for_the_next_few_hours(
    client, clock, cast: Cast, sessionmaker
):
    clock.set(in_two_days_at(clock, 9))  # 09:00 in New York; Bob works 09:00-17:00
    await book_telehealth(client, sessionmaker, cast, clock.now + timedelta(hours=3))
    async with sessionmaker() as session:
        kinds = [r.kind for r in (await session.execute(select(VisitEmail))).scalars().all()]
    assert kinds == [EmailKind.booked]


async def test_a_patient_without_an_email_address_gets_no_email(
    client, clock, cast: Cast, sessionmaker
):
    erin = await make_user(sessionmaker, "patient", "erin", email=None)
    await open_hours(sessionmaker, cast.bob)
    await login(client, cast.sam)
    response = await client.post(
        "/api/visits",
        json={
            "patient_id": erin.id,
            "prescriber_id": cast.bob.id,
            "start": in_two_days_at(clock, 10).isoformat(),
            "visit_type": "follow_up",
            "modality": "telehealth",
        },
    )
    assert response.status == 201, await response.text()
    async with sessionmaker() as session:
        assert (await session.execute(select(VisitEmail))).scalars().all() == []


async def test_the_reminder_links_to_the_questionnaires_until_they_are_answered(
    client, new_client, clock, cast: Cast, sessionmaker, settings, smtp
):
    import re

    inbox, smtp_url = smtp
    mailer = mailer_for(settings, smtp_url, sessionmaker, clock)
    start = in_two_days_at(clock, 10)
    booked = await book_telehealth(client, sessionmaker, cast, start)
    assert await mailer.deliver_due() == 1
    (link,) = re.findall(r"http://\S+/questionnaires/\S+", text_of(inbox.messages[-1]))

    # The link opens the questionnaires (and only them) two days before the visit.
    token = link.rsplit("/", 1)[1]
    patient = await new_client()
    opened = await patient.post(
        "/api/questionnaire-link", json={"token": token, "date_of_birth": "1990-05-17"}
    )
    assert opened.status == 200, await opened.text()
    for instrument, count in (("phq9", 9), ("gad7", 7)):
        answered = await patient.put(
            f"/api/visits/{booked['id']}/questionnaires/{instrument}",
            json={"answers": {str(i): 0 for i in range(1, count + 1)}, "submit": True},
        )
        assert answered.status == 200

    # Answered: the reminder the day before no longer asks.
    clock.set(start - timedelta(hours=24) + timedelta(minutes=1))
    assert await mailer.deliver_due() == 1
    reminder = text_of(inbox.messages[-1])
    assert "/questionnaires/" not in reminder
    assert booked["join_url"] in reminder


async def test_the_escalation_email_carries_an_alert_number_and_a_link_only(
    client, clock, cast: Cast, sessionmaker, settings, smtp
):
    from telehealth.measures.escalator import Escalator

    inbox, smtp_url = smtp
    await make_user(sessionmaker, "admin", "avery", email="avery@example.org")
    visit = await make_visit(sessionmaker, cast.alice, cast.bob, clock.now + timedelta(hours=3))
    await login(client, cast.alice)
    answers = {str(i): 1 for i in range(1, 10)}
    answered = await client.put(
        f"/api/visits/{visit}/questionnaires/phq9", json={"answers": answers, "submit": True}
    )
    assert answered.status == 200

    async def no_push(_ids: list[int]) -> None:
        return None

    escalator = Escalator(sessionmaker, clock, after_minutes=15, notify=no_push)
    clock.advance(minutes=16)
    (alert_id,) = await escalator.run_once()
    mailer = mailer_for(settings, smtp_url, sessionmaker, clock)
    assert await mailer.deliver_due() == 1
    message = inbox.messages[-1]
    assert message["To"] == "avery@example.org"
    assert message["Subject"] == f"Safety alert {alert_id} needs attention"
    body = text_of(message)
    assert f"{settings.public_url}/alerts" in body
    for secret in ("Alice", "Able", "1990", "PHQ", "suicid", "self-harm"):
        assert secret not in body and secret not in message["Subject"]
    assert not list(message.iter_attachments())


async def test_the_invitation_again_and_the_summary_ready_email_carry_no_clinical_text(
    settings, clock, cast: Cast, sessionmaker, smtp
):
    inbox, smtp_url = smtp
    app = create_app(settings.model_copy(update={"smtp_url": smtp_url}), clock=clock)
    async with TestClient(TestServer(app)) as client:
        start = in_two_days_at(clock, 10)
        booked = await book_telehealth(client, sessionmaker, cast, start)
        await inbox.wait_for(1)
        again = await client.post(f"/api/visits/{booked['id']}/invite")
        assert again.status == 202, await again.text()
        resent = (await inbox.wait_for(2))[1]
        assert booked["join_url"] in text_of(resent)
        _calendar, event = invite_of(resent)
        assert event.decoded("dtstart") == start

        clock.set(start + timedelta(minutes=5))
        await login(client, cast.bob)
        async with sessionmaker() as session:
            from telehealth.visits.models import Visit, VisitStatus

            visit = await session.get(Visit, booked["id"])
            visit.status, visit.location_state, visit.checked_in_at = (
                VisitStatus.in_progress,
                "NY",
                clock.now,
            )
            await session.commit()
        plan = "Raise sertraline to 100 mg for the panic attacks."
        await client.put(f"/api/visits/{booked['id']}/note", json={"plan": plan, "version": 0})
        await client.post(f"/api/visits/{booked['id']}/complete")
        signed = await client.post(f"/api/visits/{booked['id']}/note/sign")
        assert signed.status == 200
        # (The day-before reminder may have gone meanwhile: the clock jumped past it.)
        (ready,) = await eventually(
            lambda: [m for m in inbox.messages if m["Subject"] == "Your visit summary is ready"],
            timeout=15,
            what="the summary-ready email arrives",
        )
        body = text_of(ready)
        assert "Dr Bob Baker" in body
        assert booked["join_url"] in body  # the link opens the finished visit, then its summary
        for clinical in ("sertraline", "100 mg", "panic"):
            assert clinical not in body.lower()
        assert list(ready.iter_attachments()) == []
