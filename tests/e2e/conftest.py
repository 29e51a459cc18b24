"""Playwright fixtures: Debian's Chromium with a fake camera and microphone.

Each test gets the app on a real socket (the `server` fixture) and opens browsers against
`settings.public_url`. `new_page()` makes a fresh browser context (its own cookies), so a
patient and a prescriber can be on the page at once.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("TELEHEALTH_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    # Both peers are on this machine: show real host candidates, not mDNS names.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(180))


@pytest.fixture(scope="session")
async def playwright_instance() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        yield p


@pytest.fixture(scope="session")
async def browser(playwright_instance: Any) -> AsyncIterator[Any]:
    browser = await playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    await browser.close()


NewPage = Callable[..., Awaitable[Any]]


@pytest.fixture
async def new_page(browser: Any, server: Any, settings: Any) -> AsyncIterator[NewPage]:
    """Open a page in a fresh context. Console errors are collected on `page.console_errors`."""
    contexts: list[Any] = []

    async def make(**context_options: Any) -> Any:
        options = {
            "base_url": settings.public_url,
            "permissions": ["camera", "microphone"],
            "viewport": {"width": 1280, "height": 800},
        }
        options.update(context_options)
        context = await browser.new_context(**options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = await context.new_page()
        page.console_errors = []
        page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
        page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        await context.close()


@pytest.fixture
async def page(new_page: NewPage) -> Any:
    return await new_page()
