"""The README stays a short front page that names every command, and no file sends a user to
an annotation guide outside the repo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README_LIMIT = 10_000  # bytes: details belong in docs/
# Built in two parts so this file does not match itself.
OUTSIDE_GUIDE = ("shared/" + "annotation-guide").encode()
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "models", "runs", "outputs",
                "multirun", "build"}


def listed_commands() -> list[str]:
    """The command names `python -m pipeline` prints under "commands:"."""
    out = subprocess.run([sys.executable, "-m", "pipeline"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    lines = out.split("commands:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.split()[0] for line in lines if line.strip()]


def test_readme_is_at_most_10_kb():
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move details to docs/"


def test_readme_names_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = listed_commands()
    assert len(commands) >= 10, commands
    missing = [name for name in commands if f"python -m pipeline.{name}" not in readme]
    assert not missing, f"README.md does not show: {missing}"


def reads_corpora(path: Path) -> bool:
    """Tests that read corpora outside the repo may name where those live."""
    return path.parts[len(ROOT.parts)] == "tests" and b"corpora" in path.read_bytes()


def repo_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                yield path


def test_nothing_points_to_an_annotation_guide_outside_the_repo():
    found = [str(path.relative_to(ROOT)) for path in repo_files()
             if OUTSIDE_GUIDE in path.read_bytes() and not reads_corpora(path)]
    assert not found, f"these files point to a guide outside the repo (use docs/annotation-guide.md): {found}"


def test_the_guide_is_in_the_repo():
    guide = (ROOT / "docs" / "annotation-guide.md").read_text(encoding="utf-8")
    for label in ("threat", "reporting", "editorial_framing", "background_fact"):
        assert f"`{label}`" in guide
