"""requirements.lock pins every dependency of pyproject.toml (issue 10, finding 10): a
dependency added or changed without `make lock` fails here and in `make install`."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import lock  # noqa: E402


def test_the_lock_was_written_from_this_pyproject():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def normal(name: str) -> str:
    """A distribution's name as indexes compare it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_dependency_is_pinned_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    text = (ROOT / "requirements.lock").read_text()
    pinned = {normal(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+ \\$", text, re.M)}
    for requirement in wanted:
        name = normal(re.match(r"[A-Za-z0-9_.-]+", requirement).group(0))
        assert name in pinned, f"{name} is not pinned in requirements.lock"
    for block in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)[1:]:
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_a_dependency_changed_without_make_lock_is_caught(tmp_path):
    changed = tmp_path / "pyproject.toml"
    changed.write_text(
        (ROOT / "pyproject.toml").read_text().replace('"pytest>=8",', '"pytest>=8",\n    "rich",')
    )
    assert lock.dependency_digest(changed) != lock.stamped_digest(ROOT / "requirements.lock")
    assert lock.dependency_digest(ROOT / "pyproject.toml") == lock.stamped_digest()
