"""Domain: password hashing with Argon2id.

The memory cost can be lowered with TELEHEALTH_ARGON2_MEMORY_KIB (the test suite does, so
that each test's accounts are made in milliseconds); it never goes below 8 MiB, and
hashes made with any cost keep verifying, since Argon2 stores its parameters in the hash.
"""

from __future__ import annotations

import os

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
