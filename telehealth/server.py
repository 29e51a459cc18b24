"""Process entry: configure logging and run the aiohttp app."""

from __future__ import annotations

import logging

from aiohttp import web

from telehealth.app import create_app
from telehealth.config import Settings
from telehealth.logs import configure_logging


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    app = create_app(settings)
    logging.getLogger("telehealth").info(
        "serving", extra={"url": f"http://{settings.host}:{settings.port}"}
    )
    web.run_app(app, host=settings.host, port=settings.port, print=None, access_log=None)
