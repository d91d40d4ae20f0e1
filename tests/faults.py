"""Helpers for the fault tests: a small real disk (tmpfs), filling it, and what a user finds afterwards."""

import errno
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.artifacts.names import LATEST


class SmallDisks:
    """tmpfs mounts of a given size under a test's folder, unmounted at teardown.

    Mounting needs root (the tests run as root in CI); elsewhere the test is skipped, saying why.
    """

    def __init__(self, base: Path):
        self.base, self.mounted = base, []

    def __call__(self, size_kb: int, name: str = "disk") -> Path:
        folder = self.base / name
        folder.mkdir()
        if not sys.platform.startswith("linux") or os.geteuid() != 0:
            pytest.skip("a real full disk needs a tmpfs, which only root can mount on Linux")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        self.mounted.append(folder)
        return folder

    def unmount_all(self) -> None:
        for folder in reversed(self.mounted):
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(disk: Path, leave_bytes: int = 0) -> Path:
    """Fill `disk` with one file, then give back `leave_bytes`; delete the file to free the space."""
    filler = disk / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - leave_bytes))
    return filler


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def hidden_leftovers(folder: Path) -> list[str]:
    """Hidden temporaries anywhere under `folder` (Hydra's own .hydra/ aside)."""
    if not folder.exists():
        return []
    found = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if ".hydra" in parts:
            continue
        if path.name.endswith(".tmp") or path.name.startswith(".tmp-"):
            found.append(str(path.relative_to(folder)))
    return sorted(found)


def visible_models(models: Path) -> list[Path]:
    return sorted(p for p in models.iterdir() if not p.name.startswith(".") and p.name != LATEST)


def run_command(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a command line a message printed (`python -m pipeline...`) with this interpreter."""
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-m"], command
    return subprocess.run([sys.executable, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=timeout)
