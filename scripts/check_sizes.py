"""No module in telehealth/ over 500 lines (issue 11): a long module is a sign that it holds
more than one room of the house. Run by `make lint`."""

from __future__ import annotations

import sys
from pathlib import Path

LIMIT = 500
ROOT = Path(__file__).resolve().parent.parent / "telehealth"


def main() -> int:
    long = sorted(
        (count, path.relative_to(ROOT.parent))
        for path in ROOT.rglob("*.py")
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > LIMIT
    )
    for count, path in long:
        print(f"{path}: {count} lines (at most {LIMIT}); split it by what its parts are about")
    return 1 if long else 0


if __name__ == "__main__":
    sys.exit(main())
