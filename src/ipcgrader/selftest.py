"""The author's self-test (``ipcgrade check``): the reference solution gets full marks on
every start method and repeat, and every known variant gets the verdict its manifest
declares, every time.

A variants folder holds the variants (``<name>.py``, or any file or folder named by
``file``) and ``expected.toml``, one table per variant::

    [no_lock]
    status = "failed"                      # passed | failed: the grading's status
    fails = ["last-ticket.no_race"]        # check ids that must fail (others may fail too)
    passes = ["last-ticket.finishes"]      # check ids that must pass
    diagnostics = ["race"]                 # diagnostic kinds that must be reported
    at = ["race:12"]                       # diagnostics that must be reported at a line
    timeout = 3                            # wall timeout of each run (default: the spec's)
    waiting = "issue 42"                   # not deterministic yet: reported, not judged
    file = "no_lock"                       # the variant's path (default: <name>.py)

The test suite (tests/test_submissions.py) judges the shipped variants with the same code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pluggy
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ipcgrader.i18n import _
from ipcgrader.loader import LoadedExercise, validation_problems
from ipcgrader.models import Exercise
from ipcgrader.results import ExerciseResult, RunRecord, Status
from ipcgrader.sandbox import DEFAULT_LIMITS
from ipcgrader.session import Options, grade

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

MANIFEST = "expected.toml"


class ManifestError(Exception):
    """The variants folder or its manifest is unusable; ``str()`` says where and why."""


class Expected(BaseModel):
    """The verdict one variant must get (a table of ``expected.toml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["passed", "failed"]
    fails: list[str] = Field(default_factory=list)
    passes: list[str] = Field(default_factory=list)
    diagnostics: list[str] = Field(default_factory=list)
    at: list[str] = Field(default_factory=list, description="'kind:line' diagnostics")
    timeout: float | None = Field(None, gt=0, le=3600)
    waiting: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class Variant:
    """A known submission and the verdict it must get."""

    name: str
    path: Path
    expected: Expected


def read_manifest(folder: Path) -> list[Variant]:
    """The variants of ``folder``, in manifest order. Raises :class:`ManifestError`."""
    manifest = folder / MANIFEST
    try:
        data = tomllib.loads(manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"{manifest}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{manifest}: not valid TOML: {exc}") from exc
    variants = []
    for name, table in data.items():
        try:
            expected = Expected.model_validate(table)
        except ValidationError as exc:
            problems = "; ".join(validation_problems(exc, table))
            raise ManifestError(f"{manifest}: [{name}] {problems}") from exc
        path = folder / (expected.file or f"{name}.py")
        if not path.exists():
            raise ManifestError(
                _("{manifest}: [{name}] {path} does not exist").format(
                    manifest=manifest, name=name, path=path
                )
            )
        variants.append(Variant(name, path, expected))
    return variants


def differences(result: ExerciseResult, expected: Expected) -> list[str]:
    """How ``result`` differs from what the manifest declares (empty: as declared)."""
    found: list[str] = []
    if result.exercise_error:
        return [_("the exercise failed: {error}").format(error=result.exercise_error)]
    by_id = {check.id: check for check in result.checks}
    for check_id in [*expected.fails, *expected.passes]:
        if check_id not in by_id:
            found.append(
                _("the manifest names check {id}, which does not exist").format(id=check_id)
            )
    if result.status.value != expected.status:
        failing = [c.id for c in result.checks if c.status is not Status.passed]
        found.append(
            _("status {actual}, expected {expected} (not passed: {checks})").format(
                actual=result.status.value,
                expected=expected.status,
                checks=", ".join(failing) or _("none"),
            )
        )
    for check_id in expected.fails:
        check = by_id.get(check_id)
        if check is not None and check.status is not Status.failed:
            found.append(
                _("{id} should fail but is {status}").format(id=check_id, status=check.status.value)
            )
        elif check is not None and not check.message:
            found.append(_("{id} failed without saying why").format(id=check_id))
    for check_id in expected.passes:
        check = by_id.get(check_id)
        if check is not None and check.status is not Status.passed:
            found.append(
                _("{id} should pass but is {status}: {message}").format(
                    id=check_id, status=check.status.value, message=check.message
                )
            )
    kinds = {d.kind for d in result.diagnostics}
    for kind in expected.diagnostics:
        if kind not in kinds:
            found.append(
                _("no {kind} diagnostic (got: {kinds})").format(
                    kind=kind, kinds=", ".join(sorted(kinds)) or _("none")
                )
            )
    places = {f"{d.kind}:{d.line}" for d in result.diagnostics}
    for place in expected.at:
        if place not in places:
            found.append(
                _("no diagnostic {place} (got: {places})").format(
                    place=place, places=", ".join(sorted(places)) or _("none")
                )
            )
    if expected.status == "passed" and result.score != result.max_score:
        found.append(_("score {score} of {max}").format(score=result.score, max=result.max_score))
    return found


def verdict(result: ExerciseResult) -> tuple[str, tuple[str, ...]]:
    """What must be the same on every grading: the status and the checks not passed."""
    return (
        result.status.value,
        tuple(sorted(c.id for c in result.checks if c.status is not Status.passed)),
    )


@dataclass
class Outcome:
    """The self-test's finding about one submission (the solution or a variant)."""

    name: str
    problems: list[str] = field(default_factory=list)
    flipped: bool = False
    skipped: str | None = None
    #: the exercise's own code failed on it (nothing was learnt about the submission)
    exercise_error: bool = False
    #: scenario id -> most CPU seconds one of its runs used, all processes together, less
    #: the start-ups of the interpreters it started afresh (what ``run_cpu_s`` budgets)
    run_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """As declared, every time."""
        return not self.problems and not self.flipped


def check_submission(
    loaded: LoadedExercise,
    pm: pluggy.PluginManager,
    name: str,
    path: Path,
    expected: Expected,
    repeats: int,
    options: Options,
) -> Outcome:
    """Grade ``path`` ``repeats`` times and compare each grading with ``expected``."""
    outcome = Outcome(name)
    if expected.waiting:
        outcome.skipped = expected.waiting
        return outcome
    if expected.timeout is not None:
        options = replace(options, timeout=options.timeout or expected.timeout)
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for attempt in range(repeats):
        result = grade(loaded, path, pm, options, on_run=lambda run: _note_cpu(outcome, run))
        outcome.exercise_error = outcome.exercise_error or result.exercise_error is not None
        seen.add(verdict(result))
        for problem in differences(result, expected):
            text = (
                problem
                if repeats == 1
                else _("grading {n}: {problem}").format(n=attempt + 1, problem=problem)
            )
            outcome.problems.append(text)
    outcome.flipped = len(seen) > 1
    return outcome


def _note_cpu(outcome: Outcome, run: RunRecord) -> None:
    used = run.outcome.run_cpu_s
    budget = run.outcome.cpu_budget_s
    spec = run.outcome.limits.run_cpu_s if run.outcome.limits is not None else None
    if used is not None and budget is not None and spec is not None:
        used = max(0.0, used - max(0.0, budget - spec))  # its start-ups' allowance
    if used is not None:
        scenario = run.scenario_id
        outcome.run_cpu_s[scenario] = max(used, outcome.run_cpu_s.get(scenario, 0.0))


#: The CPU budget of a scenario's runs (``run_cpu_s``) should leave a correct program at
#: least this many times what the reference solution needs (CPU time grows a little on a
#: loaded machine too: caches, switches).
CPU_MARGIN = 4.0


def cpu_budget_problems(exercise: Exercise, solution: Outcome) -> list[str]:
    """Scenarios whose CPU budget is tight for the reference solution's runs: a correct
    program a little slower than the solution would be stopped as if it never ended."""
    problems = []
    for scenario in exercise.scenarios:
        used = solution.run_cpu_s.get(scenario.id)
        limits = DEFAULT_LIMITS.merged(exercise.limits).merged(scenario.limits)
        budget = limits.run_cpu_s
        if used is None or budget is None or used * CPU_MARGIN <= budget:
            continue
        problems.append(
            _(
                "scenario {id}: a run of the solution used {used:.2f} s of CPU, all its "
                "processes together and their interpreters' start-ups not counted, and the "
                "CPU budget (run_cpu_s) is {budget:g} s; give it at least {suggested:.1f} s, "
                "or a slower correct program is stopped as one that never ends"
            ).format(id=scenario.id, used=used, budget=budget, suggested=used * CPU_MARGIN)
        )
    return problems


def run_selftest(
    loaded: LoadedExercise,
    pm: pluggy.PluginManager,
    solution: Path,
    variants: list[Variant],
    repeats: int = 1,
    options: Options | None = None,
    on_outcome: Callable[[Outcome], Any] | None = None,
) -> list[Outcome]:
    """The solution first (full marks), then every variant, each graded ``repeats`` times."""
    options = options or Options()
    todo = [("solution", solution, Expected(status="passed"))]
    todo += [(v.name, v.path, v.expected) for v in variants]
    outcomes = []
    for name, path, expected in todo:
        outcome = check_submission(loaded, pm, name, path, expected, repeats, options)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes
