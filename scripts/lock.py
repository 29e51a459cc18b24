"""The Python dependency lock: `write` regenerates requirements.lock from pyproject.toml
(uv, every version pinned with its hashes); `check` fails when the two disagree.

The lock carries a stamp: a digest of pyproject.toml's dependency lists. Changing a
dependency in pyproject.toml without running `make lock` makes `check` (run by `make
install` and by tests/unit/test_lock.py) fail with the command that fixes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
STAMP = "# pyproject-dependencies-sha256: "
# The oldest Python the project supports; the lock holds markers for the others (--universal).
PYTHON_VERSION = "3.11"


def dependency_digest(pyproject: Path = PYPROJECT) -> str:
    project = tomllib.loads(pyproject.read_text())["project"]
    wanted = {
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            extra: sorted(reqs) for extra, reqs in project.get("optional-dependencies", {}).items()
        },
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def stamped_digest(lock: Path = LOCK) -> str | None:
    if not lock.exists():
        return None
    for line in lock.read_text().splitlines():
        if line.startswith(STAMP):
            return line[len(STAMP) :].strip()
    return None


def write() -> int:
    extras = tomllib.loads(PYPROJECT.read_text())["project"].get("optional-dependencies", {})
    command = [
        sys.executable,
        "-m",
        "uv",
        "pip",
        "compile",
        "pyproject.toml",
        "--generate-hashes",
        "--universal",
        "--python-version",
        PYTHON_VERSION,
        "--custom-compile-command",
        "make lock",
        "--quiet",
        "--output-file",
        str(LOCK),
    ]
    if os.environ.get("UPGRADE"):
        command.append("--upgrade")  # otherwise the versions already locked are kept
    for extra in sorted(extras):
        command += ["--extra", extra]
    compiled = subprocess.run(  # noqa: S603 - our own fixed command
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600
    )
    if compiled.returncode != 0:
        sys.stderr.write(compiled.stderr)
        print("lock: uv could not resolve pyproject.toml (see above).", file=sys.stderr)
        return 1
    LOCK.write_text(f"{STAMP}{dependency_digest()}\n{LOCK.read_text()}")
    print(f"lock: wrote {LOCK.name}.")
    return 0


def check() -> int:
    stamped = stamped_digest()
    if stamped is None:
        print(f"lock: {LOCK.name} is missing or has no stamp: run `make lock`.", file=sys.stderr)
        return 1
    if stamped != dependency_digest():
        print(
            f"lock: pyproject.toml's dependencies changed since {LOCK.name} was written: "
            "run `make lock` and commit requirements.lock.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    commands = {"write": write, "check": check}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print("usage: lock.py write|check", file=sys.stderr)
        sys.exit(2)
    sys.exit(commands[sys.argv[1]]())
