"""``ipcgrade batch EXERCISE_DIR... --submissions DIR``: argument parsing, the output folder
and exit codes. The grading itself is :mod:`ipcgrader.batch`.

Exit codes (as for one grading): 0 every grading has full marks, 1 some are below full
marks, 2 bad usage or an invalid exercise, 3 the grader failed on some submission,
130 interrupted (the finished gradings are kept; rerun to finish).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from ipcgrader import isolation
from ipcgrader.batch.cluster import ClusterError, DaskExecutor
from ipcgrader.batch.exports import write_exports
from ipcgrader.batch.gradebook import Gradebook, GradebookError
from ipcgrader.batch.inputs import discover, unpack
from ipcgrader.batch.planning import ExerciseSetup, plan, setup_exercise
from ipcgrader.batch.progress import make_progress
from ipcgrader.batch.runner import BatchReport, run_batch
from ipcgrader.cli.common import (
    ExitCode,
    Parser,
    add_language_argument,
    add_limit_arguments,
    check_output_folder,
    error,
    jobs_option,
    limits_from_args,
    manager,
    spec_option,
)
from ipcgrader.i18n import _, ngettext
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.models import Exercise
from ipcgrader.results import Status
from ipcgrader.session import Options, default_jobs

GRADEBOOK = "gradebook.sqlite"


def batch_parser() -> argparse.ArgumentParser:
    """Parser of ``ipcgrade batch``."""
    parser = Parser(
        prog="ipcgrade batch",
        description=_(
            "Grade every student's submission to one or more exercises, in parallel. "
            "Gradings whose submission, exercise and grader are unchanged since the last run "
            "are not made again. Each student's feedback (results/<student>/<exercise>.md) "
            "is written in the --lang language."
        ),
    )
    parser.add_argument("exercises", nargs="+", metavar="EXERCISE_DIR")
    parser.add_argument(
        "--submissions",
        required=True,
        metavar="DIR",
        help=_("one folder or .zip per student (named after the student)"),
    )
    parser.add_argument(
        "-j", "--jobs", type=jobs_option, metavar="N", help=_("cores to use (default: all)")
    )
    parser.add_argument(
        "--out",
        default="ipcgrade-out",
        metavar="DIR",
        help=_("gradebook and exports go here (default: ./ipcgrade-out)"),
    )
    parser.add_argument("--force", action="store_true", help=_("grade everything again"))
    parser.add_argument(
        "--isolation",
        choices=("auto", *isolation.LEVELS),
        help=_(
            "isolation level of every run (default: IPCGRADER_ISOLATION, else the strongest "
            "this host has); basic must be asked for by name to grade more than one student"
        ),
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=_(
            "grade on the workers of this Dask scheduler instead of this machine "
            "(needs: pip install 'ipcgrader[dask]'; see docs/cluster.md)"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=spec_option(Exercise, "timeout"),
        metavar="S",
        help=_("wall timeout of every run (0 < S ≤ 3600)"),
    )
    add_limit_arguments(parser)
    parser.add_argument(
        "--progress",
        choices=("auto", "bar", "plain"),
        default="auto",
        help=_("bar on a terminal, plain lines otherwise (default: auto)"),
    )
    parser.add_argument(
        "--no-plugins", action="store_true", help=_("do not load plugins of installed packages")
    )
    add_language_argument(parser)
    return parser


def _error(message: str) -> None:
    error(message)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[bool]:
    """Hold a lock on the output folder: two batches must not write one gradebook."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".ipcgrade.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        yield True


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """CI cancels a job with SIGTERM: stop as cleanly as on Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exercises(args: argparse.Namespace) -> list[ExerciseSetup] | None:
    """Load and hash every exercise, each with its own plugin manager; None after an error
    has been printed."""
    options = Options(timeout=args.timeout, limits=limits_from_args(args))
    setups = []
    for folder in args.exercises:
        pm = manager(args.no_plugins)
        try:
            setups.append(setup_exercise(load_exercise(folder, pm), pm, options))
        except SpecError as exc:
            _error(str(exc))
            return None
    ids = [s.id for s in setups]
    if len(set(ids)) != len(ids):
        _error(_("an exercise is given twice: {exercises}").format(exercises=", ".join(ids)))
        return None
    return setups


def _cluster(
    args: argparse.Namespace, setups: list[ExerciseSetup], students: int, stream: TextIO
) -> DaskExecutor | None:
    """The Dask executor of ``--scheduler``, its workers checked (their isolation on the
    worker: ``--isolation`` applies there) and reported; None after an error has been
    printed. (Dask is imported only then, so it stays optional.)"""
    try:
        executor, workers = DaskExecutor.connect(
            args.scheduler,
            setups,
            False if args.no_plugins else None,
            args.isolation,
            students,
        )
    except ClusterError as exc:
        _error(str(exc))
        return None
    for line in workers:
        print(f"ipcgrade batch: {line}", file=stream)
    return executor


def _exit_code(report: BatchReport) -> int:
    if report.error:
        return ExitCode.USAGE_ERROR
    if report.interrupted:
        return ExitCode.INTERRUPTED
    if any(r.exercise_error for r in report.results):
        return ExitCode.USAGE_ERROR  # the exercise is at fault: fix it and run again
    statuses = {r.status for r in report.results}
    if Status.error in statuses:
        return 3
    return 1 if Status.failed in statuses else 0


def _isolation_refusal(students: int) -> str | None:
    """Why this batch may not be graded at the level runs would get (None: it may). Raises
    :class:`isolation.IsolationError` when the level asked for cannot be had here."""
    if isolation.chosen_level() != "basic" or students < 2 or isolation.explicit_basic():
        return None
    why = next(level.detail for level in isolation.levels() if level.name == "namespaces")
    return _(
        "only the basic isolation level is available here ({why}), at which each "
        "submission can read the other students' submissions and the gradebook; to grade "
        "{count} students anyway, pass --isolation basic (or set IPCGRADER_ISOLATION=basic)"
    ).format(why=why, count=students)


def cmd_batch(argv: Sequence[str], stream: TextIO | None = None) -> int:
    """``ipcgrade batch``: grade, record in the gradebook, write the exports."""
    args = batch_parser().parse_args(argv)
    stream = stream or sys.stderr
    submissions, out = Path(args.submissions), Path(args.out)
    if not submissions.is_dir():
        _error(_("--submissions {folder}: not a folder").format(folder=submissions))
        return 2
    check_output_folder(args.out)
    if args.jobs is not None and args.scheduler:
        _error(_("-j has no effect with --scheduler: each Dask worker's --nthreads decides"))
        return 2
    setups = _exercises(args)
    if setups is None:
        return 2
    ids = [s.id for s in setups]
    try:
        # the output folder may sit inside the submissions folder: it is not a student
        students, warnings = discover(submissions, exclude={out.resolve()})
    except OSError as exc:
        _error(_("cannot read {folder}: {problem}").format(folder=submissions, problem=exc))
        return 2
    for warning in warnings:
        print(f"ipcgrade batch: {warning}", file=stream)
    if not students:
        _error(_("no student folder or .zip in {folder}").format(folder=submissions))
        return 2
    if args.isolation is not None:
        # every run of this process reads it, the gradings' threads included
        os.environ[isolation.ENV_VAR] = args.isolation
    level = None  # on a cluster, each worker's (said as it connects)
    if not args.scheduler:
        try:
            refusal = _isolation_refusal(len(students))
            level = isolation.chosen_level()
        except isolation.IsolationError as exc:
            _error(str(exc))
            return 2
        if refusal is not None:
            _error(refusal)
            return 2
    with _exclusive(out) as mine:
        if not mine:
            _error(_("{folder} is in use by another ipcgrade batch").format(folder=out))
            return 2
        try:
            gradebook = Gradebook(out / GRADEBOOK)
        except GradebookError as exc:
            _error(str(exc))
            return 2
        with gradebook, tempfile.TemporaryDirectory(prefix="ipcgrade-batch-") as work:
            jobs = plan(setups, unpack(students, Path(work), set(ids)))
            executor = _cluster(args, setups, len(students), stream) if args.scheduler else None
            if args.scheduler and executor is None:
                return 2
            progress = make_progress(stream, args.progress)
            try:
                with _sigterm_as_interrupt():
                    report = run_batch(
                        jobs,
                        gradebook,
                        progress,
                        cores=args.jobs or default_jobs(),
                        force=args.force,
                        executor=executor,
                    )
            finally:
                if executor is not None:
                    executor.disconnect()
            notes = []
            if report.interrupted:
                notes.append(
                    _(
                        "_Interrupted: {done} of {total} gradings of this batch are done; run "
                        "the same command again to finish._"
                    ).format(done=report.graded + report.skipped, total=report.total)
                )
            if level == "basic":
                notes.append(f"**{isolation.basic_warning()}**")
            note = "\n\n".join(notes)
            summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
            try:
                step_summary = Path(summary_file) if summary_file else None
                write_exports(list(gradebook.gradings()), out, note, step_summary)
            except OSError as exc:  # the gradebook is intact: the exports can be remade
                _error(_("cannot write the exports: {problem}").format(problem=exc))
                return 3
    exercise_errors = [r for r in report.results if r.exercise_error]
    if exercise_errors:
        first = exercise_errors[0]
        _error(
            ngettext(
                "{n} grading could not be made because the exercise failed, not the "
                "student: {exercise}: {error}",
                "{n} gradings could not be made because the exercise failed, not the "
                "students: {exercise}: {error} (the first); fix it and run again",
                len(exercise_errors),
            ).format(n=len(exercise_errors), exercise=first.exercise, error=first.exercise_error)
        )
    done = (
        _(
            "ipcgrade batch: interrupted: {graded} graded, {unchanged} unchanged, {left} left, "
            "in {seconds:.1f} s; gradebook and exports in {out}/"
        )
        if report.interrupted
        else _(
            "ipcgrade batch: done: {graded} graded, {unchanged} unchanged, {left} left, in "
            "{seconds:.1f} s; gradebook and exports in {out}/"
        )
    )
    print(
        done.format(
            graded=report.graded,
            unchanged=report.skipped,
            left=report.total - report.graded - report.skipped,
            seconds=report.duration_s,
            out=out,
        )
    )
    if report.error:
        _error(report.error)
    return _exit_code(report)
