"""Waiting in tests: ask again until what the test needs is true, never sleep a fixed time.

A fixed sleep is either too short on a busy machine (a flaky test) or too long everywhere
else (a slow one). `eventually` returns as soon as the condition holds, and when it does not
hold in time it fails saying what it waited for and what it saw last.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 5.0,
    interval: float = 0.02,
    what: str | None = None,
) -> T:
    """Call `check` (a function or an async function, without arguments) every `interval`
    seconds until it returns something true, and return that. After `timeout` seconds,
    raise AssertionError naming `what` (or the function) and the last value it returned.
    An exception from `check` is not caught: it fails the test at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() >= deadline:
            name = what or getattr(check, "__name__", repr(check))
            raise AssertionError(f"not true within {timeout} s: {name} (last: {value!r})")
        await asyncio.sleep(interval)
