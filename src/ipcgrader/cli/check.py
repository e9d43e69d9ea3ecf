"""``ipcgrade check EXERCISE_DIR --solution PATH [--variants DIR] [--repeats N]``: the
author's self-test (see :mod:`ipcgrader.selftest`).

Exit codes: 0 the solution has full marks and every variant its declared verdict, every
time; 1 some differ or flip (each is listed); 2 bad usage, an invalid exercise or manifest,
or the exercise's own code failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ipcgrader import sandbox
from ipcgrader.cli.common import (
    ExitCode,
    Parser,
    add_language_argument,
    error,
    jobs_option,
    manager,
    spec_option,
)
from ipcgrader.i18n import _
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.models import Exercise
from ipcgrader.selftest import (
    ManifestError,
    Outcome,
    cpu_budget_problems,
    read_manifest,
    run_selftest,
)
from ipcgrader.session import Options
from ipcgrader.submission import SubmissionError


def _repeats(text: str) -> int:
    return jobs_option(text)  # the same range: a whole number from 1 to 1024


def _print(outcome: Outcome) -> None:
    if outcome.skipped is not None:
        print(
            _("- {name}: not judged (waiting: {why})").format(
                name=outcome.name, why=outcome.skipped
            )
        )
        return
    if outcome.ok:
        print(f"✓ {outcome.name}")
        return
    print(f"✗ {outcome.name}")
    if outcome.flipped:
        print("    " + _("flips: its verdict differs between gradings"))
    for problem in outcome.problems:
        print(f"    {problem}")


def cmd_check(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade check``: the reference solution and the known variants get the verdicts
    the author declared, on every grading."""
    parser = Parser(prog="ipcgrade check", description=cmd_check.__doc__)
    parser.add_argument("exercise", metavar="EXERCISE_DIR")
    parser.add_argument("--solution", required=True, metavar="PATH", help="the reference solution")
    parser.add_argument(
        "--variants",
        metavar="DIR",
        help="known submissions and their expected.toml (see docs/authoring.md)",
    )
    parser.add_argument(
        "--repeats", type=_repeats, default=1, metavar="N", help="grade each N times (default 1)"
    )
    parser.add_argument(
        "--timeout",
        type=spec_option(Exercise, "timeout"),
        metavar="S",
        help="wall timeout of every run (default: the spec's, or the manifest's)",
    )
    parser.add_argument("--no-plugins", action="store_true")
    add_language_argument(parser)
    args = parser.parse_args(argv)
    pm = manager(args.no_plugins)
    try:
        loaded = load_exercise(args.exercise, pm)
    except SpecError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    solution = Path(args.solution)
    if not solution.exists():
        error(_("--solution {path}: no such file or folder").format(path=solution))
        return ExitCode.USAGE_ERROR
    variants = []
    if args.variants is not None:
        try:
            variants = read_manifest(Path(args.variants))
        except ManifestError as exc:
            error(str(exc))
            return ExitCode.USAGE_ERROR
    try:
        # one warm interpreter for every grading of the check
        with sandbox.warm_runner() as warm:
            outcomes = run_selftest(
                loaded,
                pm,
                solution,
                variants,
                repeats=args.repeats,
                options=Options(timeout=args.timeout, warm=warm),
                on_outcome=_print,
            )
    except SubmissionError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    for problem in cpu_budget_problems(loaded.spec, outcomes[0]):  # the solution's runs
        print("! " + problem)
    judged = [o for o in outcomes if o.skipped is None]
    bad = [o for o in judged if not o.ok]
    if any(o.exercise_error for o in bad):
        error(_("the exercise's own code failed: fix it first"))
        return ExitCode.USAGE_ERROR
    print(
        _("{ok} of {total} as declared; {flips} flipped").format(
            ok=len(judged) - len(bad), total=len(judged), flips=sum(o.flipped for o in judged)
        )
    )
    return ExitCode.BELOW_FULL_MARKS if bad else ExitCode.OK
