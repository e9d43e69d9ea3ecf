"""Builtin plugin that puts the harness into every run (grader side).

It prepends ``harness/inject`` (which holds only ``sitecustomize.py``) to the run's
``PYTHONPATH`` and passes the run's settings to it through environment variables.
"""

from __future__ import annotations

import json
from pathlib import Path

from ipcgrader import hookimpl
from ipcgrader.models import Exercise, Scenario
from ipcgrader.sandbox import HARNESS_DIR, RunRequest

INJECT_DIR = HARNESS_DIR / "inject"


@hookimpl(tryfirst=True)
def ipcgrader_configure_run(
    exercise: Exercise, scenario: Scenario, request: RunRequest, meta_dir: Path
) -> None:
    """Inject the harness and tell it the dilation factor."""
    options = exercise.trace_of(scenario)
    request.pythonpath.insert(0, str(INJECT_DIR))
    # Dilation applies whether or not events are recorded: verdicts never depend on it.
    request.env["IPCGRADER_DILATION"] = repr(options.dilation)
    if options.atomic_writes and exercise.shared_files:
        paths = [str(request.cwd / name) for name in exercise.shared_files]
        request.env["IPCGRADER_ATOMIC_WRITES"] = json.dumps(paths)
