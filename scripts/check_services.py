"""Say clearly which services the tests need and whether they answer.

Under CI=true a missing PostgreSQL or Redis fails the run; elsewhere the tests that need
it are skipped and this prints how to start it.
"""

from __future__ import annotations

import os
import socket
import sys

SERVICES = {
    "PostgreSQL": (
        os.environ.get("TELEHEALTH_TEST_PG_HOST", "127.0.0.1"),
        int(os.environ.get("TELEHEALTH_TEST_PG_PORT", "5432")),
        "start it (Debian: pg_ctlcluster 15 main start) or set TELEHEALTH_TEST_PG_URL",
    ),
    "Redis": (
        "127.0.0.1",
        6379,
        "start it (redis-server --daemonize yes --port 6379) or set TELEHEALTH_TEST_REDIS_URL",
    ),
}


def main() -> int:
    ci = os.environ.get("CI") == "true"
    missing = []
    for name, (host, port, hint) in SERVICES.items():
        try:
            with socket.create_connection((host, port), timeout=2):
                pass
        except OSError:
            missing.append(f"{name} is not answering on {host}:{port}: {hint}.")
    for line in missing:
        print(("ERROR: " if ci else "WARNING: ") + line, file=sys.stderr)
    if missing and ci:
        print("CI=true: the tests need these services; failing.", file=sys.stderr)
        return 1
    if missing:
        print("Tests that need them will be skipped.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
