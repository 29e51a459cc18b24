"""Web layer: the route table, in one place."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from telehealth.http import (
    api_auth,
    api_calls,
    api_measures,
    api_precall,
    api_scheduling,
    api_visits,
    openapi,
    pages,
    pages_calls,
    pages_measures,
    pages_scheduling,
    pages_visits,
)


def setup_routes(app: web.Application, web_root: Path) -> None:
    for module in (
        api_auth,
        api_scheduling,
        api_visits,
        api_calls,
        api_measures,
        api_precall,
        pages,
        pages_scheduling,
        pages_visits,
        pages_calls,
        pages_measures,
        openapi,
    ):
        app.router.add_routes(module.routes)
    pages.add_home_routes(app)
    app.router.add_static("/static/", web_root / "static", append_version=False)
    vendor = web_root / "node_modules" / "socket.io-client" / "dist"
    if vendor.is_dir():
        app.router.add_static("/vendor/socket.io/", vendor)
