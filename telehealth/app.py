"""Composition root: create_app(settings) wires configuration, database, routes and signaling."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from telehealth import audit
from telehealth.auth.throttle import SignInThrottle
from telehealth.checkpoints import CheckpointWriter
from telehealth.config import ConfigError, Settings
from telehealth.db import make_engine, make_sessionmaker, utcnow
from telehealth.http import middleware
from telehealth.http.routes import setup_routes
from telehealth.keys import (
    CLOCK,
    ENGINE,
    ESCALATOR,
    MAILER,
    SESSIONMAKER,
    SETTINGS,
    SIGNALING,
    THROTTLE,
)
from telehealth.measures.escalator import Escalator
from telehealth.measures.instruments import packaged_instruments
from telehealth.measures.mailfacts import MeasuresMailFacts
from telehealth.measures.questionnaires import MeasuresPolicy, check_policy
from telehealth.notify.mailer import Mailer
from telehealth.signaling.precall import setup_precall
from telehealth.signaling.server import setup_signaling

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"


def create_app(settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> web.Application:
    check_measures_settings(settings)
    app = web.Application(
        middlewares=[
            middleware.request_context,
            middleware.errors,
            middleware.csrf_cookie,
            middleware.database,
            middleware.csrf,
        ],
        client_max_size=1024 * 1024,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[THROTTLE] = SignInThrottle(
        pair_limit=settings.max_failed_logins,
        address_limit=settings.address_max_failed_logins,
        username_limit=settings.username_max_failed_logins,
        lockout=timedelta(minutes=settings.lockout_minutes),
    )
    engine = make_engine(settings.sqlalchemy_url)
    app[ENGINE] = engine
    app[SESSIONMAKER] = make_sessionmaker(engine, audit_key=settings.chain_key())

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(WEB / "templates")),
        autoescape=jinja2.select_autoescape(["html"]),
        context_processors=[_template_context],
    )
    env.globals["static_version"] = str(int(utcnow().timestamp()))
    setup_routes(app, WEB)
    setup_signaling(app)
    setup_precall(app)

    async def close_engine(_app: web.Application) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app.cleanup_ctx.append(close_engine)
    setup_checkpoints(app)
    if settings.smtp_url:
        setup_mailer(app)
    setup_escalator(app)
    return app


def check_measures_settings(settings: Settings) -> None:
    """A questionnaire named in the settings must exist in the instruments file."""
    unknown = check_policy(MeasuresPolicy.from_settings(settings), packaged_instruments())
    if unknown:
        known = ", ".join(sorted(packaged_instruments().instruments))
        raise ConfigError(
            "TELEHEALTH_MEASURES_FOLLOW_UP / TELEHEALTH_MEASURES_INITIAL_EVALUATION: unknown "
            f"questionnaire {', '.join(unknown)} (known: {known})"
        )


def setup_escalator(app: web.Application) -> None:
    """Escalate safety alerts nobody acknowledged in time, from this process."""
    settings = app[SETTINGS]

    async def notify(alert_ids: list[int]) -> None:
        signaling = app[SIGNALING]
        for alert_id in alert_ids:
            await signaling.notices.safety_alert(alert_id, escalated=True)
        if MAILER in app:
            app[MAILER].wake()

    escalator = Escalator(
        app[SESSIONMAKER],
        app[CLOCK],
        after_minutes=settings.safety_escalation_minutes,
        notify=notify,
    )
    app[ESCALATOR] = escalator

    async def run(_app: web.Application) -> AsyncIterator[None]:
        escalator.start()
        yield
        await escalator.stop()

    app.cleanup_ctx.append(run)


def setup_checkpoints(app: web.Application) -> None:
    """Refuse to start with a key that did not sign the chain; then write signed
    checkpoints of the chain head outside the database while this process runs."""
    settings = app[SETTINGS]
    sessionmaker = app[SESSIONMAKER]
    writer = CheckpointWriter(
        sessionmaker, settings.checkpoint_path, settings.audit_checkpoint_seconds
    )

    async def run(_app: web.Application) -> AsyncIterator[None]:
        try:
            await audit.check_key(sessionmaker)
        except (OSError, SQLAlchemyError):
            # Serve anyway (/readyz says the database is down); the first append checks.
            logging.getLogger(__name__).warning("audit key not checked: database unreachable")
        writer.start()
        yield
        await writer.stop()

    app.cleanup_ctx.append(run)


def setup_mailer(app: web.Application) -> None:
    """Send the outbox's visit emails from this process; a committed change wakes it."""
    settings = app[SETTINGS]
    mailer = Mailer(
        settings, app[SESSIONMAKER], app[CLOCK], MeasuresMailFacts.from_settings(settings)
    )
    app[MAILER] = mailer

    async def run(_app: web.Application) -> AsyncIterator[None]:
        mailer.start()
        yield
        await mailer.stop()

    async def wake(request: web.Request, response: web.StreamResponse) -> None:
        # Bookings, moves and cancellations come through requests that change something.
        if request.method not in ("GET", "HEAD", "OPTIONS") and response.status < 400:
            mailer.wake()

    app.cleanup_ctx.append(run)
    app.on_response_prepare.append(wake)


class _FormToken:
    """A page's CSRF form token, made when a template shows it: aiohttp-jinja2 runs the
    context processors on every request, pages or not, and the token costs an HMAC (and,
    for a browser without the cookie, a new nonce and a Set-Cookie) on every API call and
    health check (docs/performance.md)."""

    __slots__ = ("_request", "_value")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._value: str | None = None

    def __str__(self) -> str:
        if self._value is None:
            self._value = middleware.csrf_token(self._request)
        return self._value


async def _template_context(request: web.Request) -> dict[str, Any]:
    from telehealth.http.context import actor_or_none

    return {
        "actor": actor_or_none(request),
        "csrf_token": _FormToken(request),
        "settings": request.app[SETTINGS],
    }
