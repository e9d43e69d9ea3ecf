"""Every ipcgrader hook: this file is the plugin manual.

A plugin is any object or module with functions named like the hooks below and marked with
``ipcgrader.hookimpl``. Plugins come from three places, all registered the same way:

* the builtins (``ipcgrader.checks.*``, ``ipcgrader.reporters.*``, ``ipcgrader.trace``);
* installed packages, through the entry-point group ``ipcgrader``;
* an exercise folder's ``plugin.py``, loaded for that exercise only (like ``conftest.py``).

Hooks are called with keyword arguments only. Hooks are grouped by phase: registration (at
start-up), then the grading lifecycle (per exercise, per run, per result).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from ipcgrader import PROJECT_NAME

if TYPE_CHECKING:
    from ipcgrader.models import Exercise, Scenario
    from ipcgrader.plugins import ExerciseRegistry, KindRegistry, ReporterRegistry
    from ipcgrader.results import ExerciseResult, RunRecord
    from ipcgrader.sandbox import RunRequest

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# --- registration ---------------------------------------------------------------------------


@hookspec
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register expectation kinds (the ``kind = "..."`` of ``[[scenarios.expect]]``).

    Call ``kinds.add(Model)`` with a subclass of :class:`ipcgrader.models.Expectation` whose
    ``kind`` field is a ``Literal`` of one string and which implements ``evaluate(run)``.
    Called once when the plugin manager's kinds are first needed; a kind registered twice is
    an error naming both plugins.
    """


@hookspec
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register output formats (``--format NAME``).

    Call ``reporters.add(reporter)`` with an object that has ``name``, ``description`` and
    ``render(result) -> str`` (see :class:`ipcgrader.plugins.Reporter`).
    """


@hookspec
def ipcgrader_add_exercises(exercises: ExerciseRegistry) -> None:
    """Make exercise folders available to ``ipcgrade list`` and ``ipcgrade ID``.

    Call ``exercises.add(path)`` with a folder holding an ``exercise.toml``.
    """


# --- grading lifecycle ----------------------------------------------------------------------


@hookspec
def ipcgrader_exercise_loaded(exercise: Exercise, exercise_dir: Path) -> None:
    """Called after an exercise spec validated, before any run. May raise to reject it
    (e.g. a plugin that needs a field the spec lacks); the message is shown as a spec error.
    """


@hookspec
def ipcgrader_configure_run(
    exercise: Exercise, scenario: Scenario, request: RunRequest, meta_dir: Path
) -> None:
    """Adjust a run before it starts: add environment variables, ``PYTHONPATH`` entries or
    files. ``meta_dir`` is a private folder of the run, outside the student's working
    directory, for artefacts such as a trace file. The tracing harness uses this hook.
    """


@hookspec
def ipcgrader_run_finished(
    exercise: Exercise, scenario: Scenario, record: RunRecord, meta_dir: Path
) -> None:
    """Called after a run ended, before its folders are deleted.

    Read artefacts from ``meta_dir`` and attach what checks need to ``record.artifacts``;
    append findings for the student to ``record.diagnostics``.
    """


@hookspec
def ipcgrader_grading_finished(exercise: Exercise, result: ExerciseResult) -> None:
    """Called with the finished result of one grading, before it is reported.
    Observers only: the result should not be changed here.
    """
