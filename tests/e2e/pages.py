"""What browser tests do on many pages: sign in through the form, and wait for a page's
socket to be where the test needs it on the server."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from telehealth.keys import SIGNALING
from tests.builders import PASSWORD
from tests.waiting import eventually


async def sign_in(
    page: Any, username: str, next_path: str | None = None, *, lands_on: str | None = None
) -> Any:
    """Sign in on the login form (with `next_path`: /login?next=...), then wait for the page
    to reach `next_path`, or `lands_on`, or at least to leave /login. Returns the page."""
    await page.goto(f"/login?next={next_path}" if next_path else "/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    target = next_path or lands_on
    if target:
        await page.wait_for_url(f"**{target}")
    else:
        await page.wait_for_url(lambda url: "/login" not in url)
    return page


def sockets_in(app: web.Application, room: str) -> int:
    """How many of the app's sockets are in a room of the /visits namespace (API.md)."""
    return len(list(app[SIGNALING].sio.manager.get_participants("/visits", room)))


async def page_sockets_in(app: web.Application, room: str, count: int = 1) -> None:
    """Until `count` page sockets are in `room` (a visit's call, a prescriber's dashboard)."""
    await eventually(
        lambda: sockets_in(app, room) >= count, timeout=30, what=f"{count} sockets in {room}"
    )
