"""Regenerate migration 0001 from the models (pre-release only: no deployed databases yet)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from telehealth.migrate import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    config = alembic_config(f"sqlite+aiosqlite:///{Path(tmp) / 'empty.sqlite3'}")
    command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
