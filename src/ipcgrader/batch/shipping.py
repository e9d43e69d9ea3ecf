"""A grading made on another machine: what it needs, as bytes, and the task that makes it.

No shared filesystem is assumed. The exercise folder and the student's files travel with
each task as zip archives in memory (an exercise is a few kB, a submission at most its
entry files and 1 MiB of extras), and the worker unpacks them into its own temporary
folder. The task (:func:`grade_shipped`) is idempotent: every attempt starts from the bytes
in fresh folders, so a task retried after its worker was lost grades the same thing again,
and only the client records what comes back (:mod:`~ipcgrader.batch.runner`).

This module needs nothing but the standard library and ipcgrader: it is what a Dask worker
imports to run a task. The Dask side of the client is :mod:`~ipcgrader.batch.cluster`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import platform
import tempfile
import threading
import time
import zipfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ipcgrader import __version__, sandbox
from ipcgrader.batch.executors import RUNS_PER_CORE, BatchAborted, Graded, RunGate, grade_job
from ipcgrader.batch.gradebook import Fingerprint
from ipcgrader.batch.inputs import extract_archive
from ipcgrader.batch.planning import ExerciseSetup, Job, grader_version
from ipcgrader.i18n import _, language, use_language
from ipcgrader.loader import load_exercise
from ipcgrader.models import Limits
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.session import Options, default_jobs
from ipcgrader.submission import resolve_submission
from ipcgrader.warm import WarmRunner


class WorkerMismatch(BatchAborted):
    """A worker's grader is not the client's: its verdicts would not be the batch's."""


@dataclass(frozen=True)
class ShippedExercise:
    """An exercise of the batch as a worker receives it."""

    folder_name: str
    archive: bytes
    #: sha256 of ``archive``: the worker unpacks and loads each exercise once
    digest: str
    #: False with ``--no-plugins``; None lets the worker's environment decide
    autoload: bool | None
    timeout: float | None
    limits: dict[str, Any] | None
    spec_hash: str
    #: the client's grader and plugins; a worker whose own differ refuses the task
    grader_version: str
    #: the language the client's results are written in
    language: str
    #: ``--isolation`` given to the client: the workers' runs get it too
    isolation: str | None = None
    #: students in the batch: a worker with only the basic level refuses a class (as the
    #: client refuses the workers it sees at connect, and a local batch refuses the host)
    students: int = 1


@dataclass(frozen=True)
class ShippedJob:
    """A student's submission to one exercise as a worker receives it."""

    student: str
    display: str
    fingerprint: Fingerprint
    problem: str | None
    #: the files a grading uses (entry files and extras), flat, as one zip
    archive: bytes


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return buffer.getvalue()


def ship_exercise(
    setup: ExerciseSetup,
    autoload: bool | None,
    isolation_level: str | None = None,
    students: int = 1,
) -> ShippedExercise:
    """Pack ``setup``'s folder (caches and hidden files left out) for a worker."""
    directory = setup.loaded.directory
    files = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        hidden = any(p.startswith(".") or p == "__pycache__" for p in relative.parts)
        if path.is_file() and not hidden and path.suffix != ".pyc":
            files[relative.as_posix()] = path.read_bytes()
    archive = _zip(files)
    options = setup.options
    return ShippedExercise(
        folder_name=directory.name,
        archive=archive,
        digest=hashlib.sha256(archive).hexdigest(),
        autoload=autoload,
        timeout=options.timeout,
        limits=options.limits.model_dump() if options.limits else None,
        spec_hash=setup.spec_hash,
        grader_version=setup.grader_version,
        language=language(),
        isolation=isolation_level,
        students=students,
    )


def ship_job(job: Job) -> ShippedJob:
    """Pack exactly the files a grading of ``job`` uses, flat: resolved again on the worker,
    they give the same entries, extras and missing files as here."""
    submission = resolve_submission(job.exercise.loaded.spec, job.folder)
    files = {}
    for path in [*submission.extras, *submission.entries.values()]:
        try:
            files[path.name] = path.read_bytes()
        except OSError:  # unreadable here: it will be reported missing there
            continue
    return ShippedJob(job.student, job.display, job.fingerprint, job.problem, _zip(files))


# --- on the worker ----------------------------------------------------------------------

_LOCK = threading.Lock()
#: (digest, autoload) -> the exercise unpacked and loaded in this worker process
_EXERCISES: dict[tuple[str, bool | None], ExerciseSetup] = {}
#: batch id -> the gate of its runs in this worker process (stopped on the client's Ctrl-C)
_GATES: dict[str, RunGate] = {}
#: batch id -> its gradings in progress in this worker process
_ACTIVE: dict[str, int] = {}
#: (--isolation asked for, a class?) -> (the level this worker's runs get, why it refuses)
_LEVELS: dict[tuple[str | None, bool], tuple[str | None, str | None]] = {}


def _scratch() -> Path:
    """The worker's own folder (``dask worker --local-directory``), else the temp folder."""
    try:
        from distributed import get_worker

        return Path(get_worker().local_directory)
    except (ImportError, ValueError):  # not inside a Dask worker (tests, other executors)
        return Path(tempfile.gettempdir())


def _unpack(archive: bytes, target: Path) -> Path:
    target.mkdir(parents=True)
    packed = target.parent / f"{target.name}.zip"
    packed.write_bytes(archive)
    try:
        return extract_archive(packed, target)
    finally:
        packed.unlink()


def _exercise(shipped: ShippedExercise) -> ExerciseSetup:
    """The shipped exercise, unpacked and loaded once per worker process; checked on every
    task against this worker's grader and plugins."""
    key = (shipped.digest, shipped.autoload)
    with _LOCK:
        if key not in _EXERCISES:
            pm = get_plugin_manager(autoload=shipped.autoload)
            base = Path(tempfile.mkdtemp(prefix="ipcgrade-exercise-", dir=_scratch()))
            folder = _unpack(shipped.archive, base / shipped.folder_name)
            limits = Limits(**shipped.limits) if shipped.limits else None
            options = Options(timeout=shipped.timeout, limits=limits)
            loaded = load_exercise(folder, pm)
            # this worker's own grader version, for the check below
            _EXERCISES[key] = ExerciseSetup(
                loaded, pm, options, shipped.spec_hash, grader_version(pm)
            )
        setup = _EXERCISES[key]
    if setup.grader_version != shipped.grader_version:
        message = _(
            "worker {worker} grades with {theirs}, but this batch was planned with "
            "{ours}: install the same ipcgrader and plugins on every worker"
        ).format(worker=platform.node(), theirs=setup.grader_version, ours=shipped.grader_version)
        raise WorkerMismatch(message)
    return setup


def _gate(batch: str) -> RunGate:
    """The gate of ``batch``'s runs in this worker process, sized like a local batch's.
    (Two batches grading on one worker at once would each have a full one.)"""
    with _LOCK:
        if batch not in _GATES:
            _GATES[batch] = RunGate(RUNS_PER_CORE * default_jobs())
        return _GATES[batch]


def grade_shipped(exercise: ShippedExercise, job: ShippedJob, batch: str) -> Graded:
    """The task: grade ``job`` against ``exercise`` in fresh folders of this worker, its
    runs through the gate of ``batch`` (the client's batch id), forked from the warm runner
    this worker keeps.

    Raises :class:`WorkerMismatch` if this worker's grader is not the client's; any other
    problem is a result (as in a local batch), so the task is safe to run again.
    """
    setup = _exercise(shipped=exercise)
    level = _level_here(exercise)
    with _LOCK:
        _ACTIVE[batch] = _ACTIVE.get(batch, 0) + 1
    try:
        with (
            use_language(exercise.language),
            tempfile.TemporaryDirectory(prefix="ipcgrade-submission-", dir=_scratch()) as work,
            _warm_runner() as warm,
        ):
            folder = _unpack(job.archive, Path(work, "submission"))
            local = Job(job.student, setup, folder, job.display, job.fingerprint, job.problem)
            return grade_job(local, _gate(batch), level, warm)
    finally:
        with _LOCK:
            _ACTIVE[batch] -= 1
            if not _ACTIVE[batch]:
                del _ACTIVE[batch]


def _warm_runner() -> AbstractContextManager[WarmRunner | None]:
    """The runner a grading's runs are forked from: inside a Dask worker, the one the
    worker keeps for its lifetime (:mod:`~ipcgrader.batch.worker_runner`); elsewhere
    None (the grading starts its own, as a single grading does)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not inside a Dask worker (tests, other executors)
        return contextlib.nullcontext()
    from ipcgrader.batch.worker_runner import kept_runner

    return kept_runner(worker).lease()


def stop_batch(batch: str) -> None:
    """The client's Ctrl-C, run in each worker process: ``batch``'s runs not started yet are
    refused and its runs in progress killed, as in a local batch. Killing is by process, so
    it waits for no other batch to be grading here at the same time (whose runs it would
    kill too); then the stopped gradings end on their own, bounded by their timeouts.
    Returns at once (it runs in the worker's event loop); a thread keeps killing while a
    grading of the batch is still in progress, since a run may start between two kills."""
    _gate(batch).stop()

    def kill() -> None:
        for _attempt in range(100):  # about 5 s at most
            with _LOCK:
                mine, others = _ACTIVE.get(batch, 0), set(_ACTIVE) - {batch}
            if not mine or others:
                return
            sandbox.kill_active_runs()
            time.sleep(0.05)

    threading.Thread(target=kill, name="ipcgrade-stop", daemon=True).start()


def _level_here(exercise: ShippedExercise) -> str | None:
    """The isolation level this worker's runs of ``exercise`` get: the client's
    ``--isolation`` if given, else the worker's own, passed to each run (the worker's
    environment is left as it is: another batch may be grading here too). Raises
    :class:`WorkerMismatch` when this worker may not grade the batch, by the rule the
    client applies at connect (:func:`~ipcgrader.batch.cluster.check_workers`): so a
    worker that joined the cluster later is refused alike, once, with the same words."""
    from ipcgrader.batch.cluster import check_workers

    key = (exercise.isolation, exercise.students > 1)
    with _LOCK:
        if key not in _LEVELS:
            info = worker_info(exercise.isolation)
            problems = check_workers({_worker_address(): info}, exercise.students)
            _LEVELS[key] = (info["isolation"]["chosen"], problems[0] if problems else None)
        level, refusal = _LEVELS[key]
    if refusal is not None:
        raise WorkerMismatch(refusal)
    return level


def _worker_address() -> str:
    """This Dask worker's address (its host name outside a worker)."""
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return platform.node()


def worker_info(isolation_level: str | None = None, measure_repeats: int = 0) -> dict[str, Any]:
    """What the client checks and reports about a worker host (run there by the client),
    at the client's ``--isolation`` if given (``ipcgrade doctor --scheduler``: its runs
    timed ``measure_repeats`` times per level)."""
    from ipcgrader.cli.doctor import isolation_report

    return {
        "ipcgrader": __version__,
        "python": platform.python_version(),
        "host": platform.node(),
        "cores": default_jobs(),
        "pid": os.getpid(),
        "isolation": isolation_report(measure_repeats, wanted=isolation_level),
    }
