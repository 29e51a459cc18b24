"""Domain: password hashing with Argon2id.

The memory cost can be lowered with TELEHEALTH_ARGON2_MEMORY_KIB (the test suite does, so
that each test's accounts are made in milliseconds); it never goes below 8 MiB, and
hashes made with any cost keep verifying, since Argon2 stores its parameters in the hash.

A sign-in verifies in `verify_password_in_pool`: on a few worker threads (Argon2 releases
the GIL), never on the event loop, so one slow hash does not hold up every other request,
and a flood of sign-ins waits its turn instead of taking every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_MEMORY_KIB = max(8192, int(os.environ.get("TELEHEALTH_ARGON2_MEMORY_KIB", "65536")))
_hasher = PasswordHasher(memory_cost=_MEMORY_KIB, time_cost=3 if _MEMORY_KIB >= 65536 else 2)

# A real hash to verify against when the user does not exist, so the answer takes as long.
_DUMMY_HASH = _hasher.hash("telehealth-timing-equaliser")

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        verified = _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return verified and password_hash is not None


# Half the cores (at least one) hash; the rest stay free for the event loop and the database.
HASH_WORKERS = max(1, (os.cpu_count() or 2) // 2)
# Sign-ins waiting for a worker beyond this are turned away at once ("busy, try again").
MAX_WAITING = 64


class PasswordPoolBusy(Exception):
    """Too many sign-ins are waiting for a password check."""


class _Pool:
    """The process's hashing threads, made on first use (one per process, like the hasher)."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.in_use = 0

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    HASH_WORKERS, thread_name_prefix="argon2", initializer=_lowest_priority
                )
            return self._executor


def _lowest_priority() -> None:
    """Hash at the lowest CPU priority (Linux gives each thread its own nice value): when
    the machine is busy, requests and the database go first and sign-ins wait, instead of
    a flood of guesses slowing everyone."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


_pool = _Pool()


async def verify_password_in_pool(password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop, with bounded concurrency and queue."""
    if _pool.in_use >= HASH_WORKERS + MAX_WAITING:
        raise PasswordPoolBusy()
    _pool.in_use += 1
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _pool.executor(), verify_password, password_hash, password
        )
    finally:
        _pool.in_use -= 1
