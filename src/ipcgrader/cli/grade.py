"""``ipcgrade EXERCISE_DIR``: grade one submission and print its report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ipcgrader import __version__, isolation, sandbox
from ipcgrader.cli.common import (
    ExitCode,
    Parser,
    add_language_argument,
    add_limit_arguments,
    check_output_file,
    error,
    jobs_option,
    limits_from_args,
    manager,
    reporter_named,
    spec_option,
    write_output,
)
from ipcgrader.i18n import _
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.models import Exercise
from ipcgrader.plugins import reporters
from ipcgrader.results import ExerciseResult, Status, student_view
from ipcgrader.session import Options, grade, internal_error
from ipcgrader.submission import SubmissionError
from ipcgrader.warm import WarmRunner


def grade_parser(formats: Sequence[str] = ()) -> argparse.ArgumentParser:
    """Parser of the main form, ``ipcgrade EXERCISE_DIR``; ``formats`` are the report
    formats the plugins registered (listed in ``--help`` and checked)."""
    parser = Parser(
        prog="ipcgrade",
        description=_(
            "Grade a process-communication exercise. Other commands: "
            "ipcgrade check | schema | list [DIR...] | batch ... | report | doctor"
        ),
    )
    parser.add_argument("exercise", metavar="EXERCISE_DIR", help=_("folder with exercise.toml"))
    parser.add_argument(
        "--submission",
        metavar="PATH",
        help=_("file or folder to grade (default: the entry files in EXERCISE_DIR)"),
    )
    parser.add_argument(
        "--format",
        default="terminal",
        choices=list(formats) or None,
        metavar="FORMAT",
        help=_("report format: {formats} (default: terminal)").format(
            formats=", ".join(formats) or "terminal"
        ),
    )
    parser.add_argument("--output", "-o", metavar="FILE", help=_("write the report to FILE"))
    parser.add_argument(
        "--view",
        choices=("instructor", "student"),
        default="instructor",
        help=_(
            "student: report only visible checks and what they found (for a report a "
            "student reads; gradescope output always honours each check's visibility)"
        ),
    )
    parser.add_argument(
        "--timeout",
        type=spec_option(Exercise, "timeout"),
        metavar="S",
        help=_("wall timeout of every run (0 < S ≤ 3600)"),
    )
    add_limit_arguments(parser)
    parser.add_argument("-j", "--jobs", type=jobs_option, metavar="N", help=_("runs made at once"))
    parser.add_argument("--no-color", action="store_true", help=_("plain text even on a terminal"))
    parser.add_argument(
        "--no-plugins", action="store_true", help=_("do not load plugins of installed packages")
    )
    parser.add_argument("--version", action="version", version=f"ipcgrader {__version__}")
    add_language_argument(parser)
    return parser


def exit_code_of(result: ExerciseResult) -> ExitCode:
    """Map a grading result to the process exit code."""
    if result.exercise_error is not None:
        return ExitCode.USAGE_ERROR  # the exercise is at fault, as for an invalid spec
    if result.status is Status.error:
        return ExitCode.INTERNAL_ERROR
    return ExitCode.OK if result.status is Status.passed else ExitCode.BELOW_FULL_MARKS


def cmd_grade(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade EXERCISE_DIR [options]``."""
    # first thing: the warm interpreter starts while plugins and the exercise load
    with sandbox.prestarted_runner() as warm:
        return _grade(argv, warm)


def _grade(argv: Sequence[str], warm: WarmRunner) -> ExitCode:
    pm = manager("--no-plugins" in argv)
    formats = reporters(pm)
    args = grade_parser(formats.names()).parse_args(argv)
    reporter = reporter_named(formats, args.format)
    if reporter is None:
        return ExitCode.USAGE_ERROR
    if args.output is not None:
        check_output_file(args.output)
    if hasattr(reporter, "color"):
        reporter.color = (
            args.output is None
            and not args.no_color
            and "NO_COLOR" not in os.environ
            and sys.stdout.isatty()
        )
    try:
        loaded = load_exercise(args.exercise, pm)
    except SpecError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    submission = Path(args.submission) if args.submission else loaded.directory
    try:
        level = isolation.chosen_level()
    except isolation.IsolationError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    if level == "basic":  # said before the report, on stderr: a JSON report stays JSON
        print(_("ipcgrade: warning: {warning}").format(warning=isolation.basic_warning()),
              file=sys.stderr)  # fmt: skip
    options = Options(
        jobs=args.jobs, timeout=args.timeout, limits=limits_from_args(args), warm=warm
    )
    try:
        result = grade(loaded, submission, pm, options)
    except SubmissionError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    except Exception as exc:  # the grader's own bug: report it as a result, exit 3
        result = internal_error(loaded.spec.id, submission, exc)
    shown = result
    if args.view == "student" and args.format != "gradescope":
        shown = student_view(result)
    write_output(reporter.render(shown), args.output)
    return exit_code_of(result)
