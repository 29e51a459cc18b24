"""Regenerate migration 0001 from the models (pre-release only: no deployed databases yet)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from telehealth.migrate import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    config = alembic_config(f"sqlite+aiosqlite:///{Path(tmp) / 'empty.sqlite3'}")
    command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
for new in (MIGRATIONS / "versions").glob("0001_*.py"):
    # Keep generated code in house style (ruff format), so `make lint` stays green.
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(new)], check=True)
    subprocess.run([sys.executable, "-m", "ruff", "check", "-q", "--fix", str(new)], check=False)
