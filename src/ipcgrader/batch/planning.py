"""The plan of a batch: every (student, exercise) grading as a :class:`Job`, with the
hashes that say whether a grading already in the gradebook is still current.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pluggy

from ipcgrader import __version__
from ipcgrader.batch.gradebook import Fingerprint
from ipcgrader.batch.inputs import Unpacked
from ipcgrader.loader import LoadedExercise
from ipcgrader.session import Options
from ipcgrader.submission import resolve_submission


def _digest(parts: list[bytes]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(len(part).to_bytes(8, "big"))
        hasher.update(part)
    return hasher.hexdigest()


def submission_hash(loaded: LoadedExercise, folder: Path) -> str:
    """Hash of exactly what a grading of ``folder`` would use: the entry files (by the
    exercise's names), the extra files copied beside them, and which entries are missing.
    Unrelated files in the folder do not change it."""
    submission = resolve_submission(loaded.spec, folder)
    parts: list[bytes] = []
    for name, source in sorted(submission.entries.items()):
        parts.append(f"entry:{name}".encode())
        parts.append(_read(source))
    for extra in sorted(submission.extras, key=lambda p: p.name):
        parts.append(f"extra:{extra.name}".encode())
        parts.append(_read(extra))
    parts.append(("missing:" + ",".join(sorted(submission.missing))).encode())
    return _digest(parts)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:  # unreadable: hash the reason, the grading will report it
        return f"<unreadable: {exc.strerror}>".encode()


def spec_hash(loaded: LoadedExercise, options: dict[str, object]) -> str:
    """Hash of everything about the exercise that can change a verdict: every file of its
    folder (spec, drivers, plugin.py, data) except the starter entry files, documentation
    and caches, plus the grading options given on the command line (e.g. ``--timeout``)."""
    directory = loaded.directory
    starters = {directory / name for name in loaded.spec.entry}
    parts = [json.dumps(options, sort_keys=True, default=str).encode()]
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if (
            not path.is_file()
            or path in starters
            or path.suffix in {".md", ".pyc"}
            or any(p.startswith(".") or p == "__pycache__" for p in relative.parts)
        ):
            continue
        parts.append(relative.as_posix().encode())
        parts.append(_read(path))
    return _digest(parts)


def grader_version(pm: pluggy.PluginManager) -> str:
    """``ipcgrader X.Y.Z`` plus every installed plugin distribution and its version: a new
    release of either regrades. (Edits to an editable install do not: use ``--force``.)"""
    dists = sorted({f"{dist.project_name} {dist.version}" for _, dist in pm.list_plugin_distinfo()})
    return "; ".join([f"ipcgrader {__version__}", *dists])


@dataclass(frozen=True)
class ExerciseSetup:
    """An exercise of the batch with its own plugin manager (its plugin.py stays its own)."""

    loaded: LoadedExercise
    pm: pluggy.PluginManager
    options: Options
    spec_hash: str
    grader_version: str

    @property
    def id(self) -> str:
        """The exercise id."""
        return self.loaded.spec.id


def setup_exercise(
    loaded: LoadedExercise, pm: pluggy.PluginManager, options: Options
) -> ExerciseSetup:
    """Hash the exercise and the options that can change its verdicts."""
    knobs: dict[str, object] = {
        "timeout": options.timeout,
        "limits": options.limits.model_dump() if options.limits else None,
    }
    return ExerciseSetup(loaded, pm, options, spec_hash(loaded, knobs), grader_version(pm))


@dataclass(frozen=True)
class Job:
    """One grading to make: a student's submission against one exercise."""

    student: str
    exercise: ExerciseSetup
    folder: Path
    display: str
    fingerprint: Fingerprint
    problem: str | None = None  # why the submission could not be unpacked, if it could not


def plan(exercises: Sequence[ExerciseSetup], unpacked: Sequence[Unpacked]) -> list[Job]:
    """Every (student, exercise) grading of the batch, student by student."""
    jobs = []
    for item in unpacked:
        for setup in exercises:
            fingerprint = Fingerprint(
                submission_hash(setup.loaded, item.folder), setup.spec_hash, setup.grader_version
            )
            jobs.append(
                Job(
                    item.student.student,
                    setup,
                    item.folder,
                    str(item.student.source),
                    fingerprint,
                    item.problem,
                )
            )
    return jobs
