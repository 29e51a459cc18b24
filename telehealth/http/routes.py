"""Web layer: the route table, in one place."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from telehealth.http import openapi
from telehealth.http.api import audit as api_audit
from telehealth.http.api import auth as api_auth
from telehealth.http.api import bookings as api_bookings
from telehealth.http.api import calls as api_calls
from telehealth.http.api import joins as api_joins
from telehealth.http.api import measures as api_measures
from telehealth.http.api import precall as api_precall
from telehealth.http.api import scheduling as api_scheduling
from telehealth.http.api import users as api_users
from telehealth.http.api import visits as api_visits
from telehealth.http.pages import admin as pages_admin
from telehealth.http.pages import calls as pages_calls
from telehealth.http.pages import health as pages_health
from telehealth.http.pages import home as pages_home
from telehealth.http.pages import login as pages_login
from telehealth.http.pages import measures as pages_measures
from telehealth.http.pages import scheduling as pages_scheduling
from telehealth.http.pages import visits as pages_visits


def setup_routes(app: web.Application, web_root: Path) -> None:
    for module in (
        api_auth,
        api_users,
        api_audit,
        api_scheduling,
        api_bookings,
        api_joins,
        api_visits,
        api_calls,
        api_measures,
        api_precall,
        pages_login,
        pages_admin,
        pages_health,
        pages_scheduling,
        pages_visits,
        pages_calls,
        pages_measures,
        openapi,
    ):
        app.router.add_routes(module.routes)
    pages_home.add_home_routes(app)
    app.router.add_static("/static/", web_root / "static", append_version=False)
    vendor = web_root / "node_modules" / "socket.io-client" / "dist"
    if vendor.is_dir():
        app.router.add_static("/vendor/socket.io/", vendor)
