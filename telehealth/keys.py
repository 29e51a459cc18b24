"""Plumbing: every aiohttp application key and the cookie names, in one place.

The web layer and the signaling server both read what the composition root stores on the
application; naming the keys here (below both) means neither imports the other for them.
The value types are only named for the type checker, so this module imports nothing of the
packages above it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from telehealth.auth.sessioncache import SessionCache
    from telehealth.auth.throttle import SignInThrottle
    from telehealth.config import Settings
    from telehealth.measures.escalator import Escalator
    from telehealth.notify.mailer import Mailer
    from telehealth.signaling.precall import PrecallRegistry
    from telehealth.signaling.server import Signaling

SESSION_COOKIE = "th_session"
CSRF_COOKIE = "th_csrf"

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
ENGINE: web.AppKey[AsyncEngine] = web.AppKey("engine")
SESSIONMAKER: web.AppKey[async_sessionmaker[AsyncSession]] = web.AppKey("sessionmaker")
SESSION_CACHE: web.AppKey[SessionCache] = web.AppKey("session_cache")
THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("sign_in_throttle")
SIGNALING: web.AppKey[Signaling] = web.AppKey("signaling")
PRECALL: web.AppKey[PrecallRegistry] = web.AppKey("precall")
ESCALATOR: web.AppKey[Escalator] = web.AppKey("escalator")
MAILER: web.AppKey[Mailer] = web.AppKey("mailer")
