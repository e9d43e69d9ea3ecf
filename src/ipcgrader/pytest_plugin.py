"""pytest plugin (entry point ``pytest11``): grade exercises from a course's own tests.

Fixtures:

- ``ipcgrade``: ``ipcgrade(exercise_dir, submission=None, **options) -> ExerciseResult``
  grades for real, with a fresh plugin manager (installed plugins not autoloaded);
- ``ipcgrader_leftovers``: a function returning the pids of processes a grading left
  behind (should always be empty).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import ExerciseResult
from ipcgrader.sandbox import RUN_MARKER
from ipcgrader.session import Options, grade


def marked_processes(grader_pid: int | None = None) -> list[int]:
    """Pids of live processes of runs that the grader ``grader_pid`` (default: this
    process) started: they carry the run marker, which begins with the grader's pid."""
    found = []
    owner = os.getpid() if grader_pid is None else grader_pid
    needle = f"{RUN_MARKER}={owner}-".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(item.startswith(needle) for item in environ.split(b"\0")):
            found.append(int(entry))
    return found


@pytest.fixture
def ipcgrader_leftovers() -> Callable[[], list[int]]:
    """Call it after grading: live processes of graded runs (expected: none)."""
    return marked_processes


@pytest.fixture
def ipcgrade() -> Callable[..., ExerciseResult]:
    """Grade ``submission`` (default: the exercise folder's own files) for real."""

    def run(
        exercise_dir: str | os.PathLike[str],
        submission: str | os.PathLike[str] | None = None,
        plugins: tuple[object, ...] = (),
        **options: Any,
    ) -> ExerciseResult:
        pm = get_plugin_manager(autoload=False, plugins=plugins)
        loaded = load_exercise(Path(exercise_dir), pm)
        target = Path(submission) if submission is not None else loaded.directory
        return grade(loaded, target, pm, Options(**options))

    return run
