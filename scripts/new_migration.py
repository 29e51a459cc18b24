"""Write the next migration: autogenerate it against a scratch database migrated to head.

Usage: `make migration MESSAGE="what changed"`. Review the file it writes before committing.
Migrations already released (0001 onwards) are never rewritten: databases exist at them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from telehealth.migrate import MIGRATIONS, alembic_config

message = os.environ.get("MESSAGE") or (sys.argv[1] if len(sys.argv) > 1 else "")
if not message:
    sys.exit('Say what changed: make migration MESSAGE="add visit reminders"')
with tempfile.TemporaryDirectory() as tmp:
    config = alembic_config(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.sqlite3'}")
    command.upgrade(config, "head")
    head = ScriptDirectory.from_config(config).get_current_head() or "0000"
    rev_id = f"{int(head) + 1:04d}"
    command.revision(config, message=message, autogenerate=True, rev_id=rev_id)
for new in (MIGRATIONS / "versions").glob(f"{rev_id}_*.py"):
    # Keep generated code in house style (ruff format), so `make lint` stays green.
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(new)], check=True)
    subprocess.run([sys.executable, "-m", "ruff", "check", "-q", "--fix", str(new)], check=False)
    print(f"Wrote {new.relative_to(Path.cwd()) if new.is_relative_to(Path.cwd()) else new}")
