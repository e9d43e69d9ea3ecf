"""Turn per-run verdicts into check results and a grading result. Pure functions."""

from __future__ import annotations

from ipcgrader.i18n import _
from ipcgrader.models import Exercise, Expectation, Scenario
from ipcgrader.needs import unmet
from ipcgrader.results import (
    CheckResult,
    Diagnostic,
    ExerciseCodeError,
    RunRecord,
    Status,
    Verdict,
)

#: Module-name prefix of an exercise folder's plugin.py (see plugins.load_exercise_plugin).
EXERCISE_PLUGIN_PREFIX = "ipcgrader_exercise_plugin_"


def check_ids(exercise: Exercise) -> dict[tuple[str, int], str]:
    """Stable id of every expectation: its own, or ``<scenario>.<kind>`` (``.2``... on
    repeats of a kind within a scenario)."""
    ids: dict[tuple[str, int], str] = {}
    for scenario in exercise.scenarios:
        counts: dict[str, int] = {}
        for index, expectation in enumerate(scenario.expect):
            if expectation.id:
                ids[(scenario.id, index)] = expectation.id
                continue
            counts[expectation.kind] = counts.get(expectation.kind, 0) + 1
            n = counts[expectation.kind]
            suffix = "" if n == 1 else f".{n}"
            ids[(scenario.id, index)] = f"{scenario.id}.{expectation.kind}{suffix}"
    return ids


def judge(expectation: Expectation, run: RunRecord) -> Verdict:
    """One expectation on one run, guarding against incomplete runs and plugin bugs."""
    if expectation.needs_complete_run:
        problem = run.problem()
        if problem is not None:
            return Verdict(False, f"the program {problem}")
    try:
        verdict = expectation.evaluate(run)
        if verdict.passed:
            # a pass counts only if what the check needs happened (ipcgrader.needs)
            verdict = unmet(expectation, run) or verdict
        return verdict
    except Exception as exc:  # a buggy check must not sink the grading
        if type(expectation).__module__.startswith(EXERCISE_PLUGIN_PREFIX):
            # a kind from the exercise's own plugin.py: the exercise's error
            where = _plugin_location(exc) or f"plugin.py: {type(exc).__name__}: {exc}"
            raise ExerciseCodeError(where) from exc
        return Verdict(None, f"internal error in check {expectation.kind!r}: {exc!r}")


def _plugin_location(exc: BaseException) -> str | None:
    import traceback

    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith("plugin.py"):
            found = f"plugin.py:{frame.lineno}: {type(exc).__name__}: {exc}"
    return found


def could_not_check(check_id: str, scenario: Scenario, expectation: Expectation) -> CheckResult:
    """A check the exercise's own failure prevented: "could not check", no points."""
    return CheckResult(
        id=check_id,
        name=f"{scenario.name or scenario.id}: {expectation.title()}",
        status=Status.error,
        score=0.0,
        max_score=expectation.points,
        message=_("could not check: the exercise itself failed (not your code)"),
        visibility=expectation.visibility.value,
        scenario=scenario.id,
        kind=expectation.kind,
    )


def score_check(
    check_id: str, scenario: Scenario, expectation: Expectation, runs: list[RunRecord]
) -> CheckResult:
    """A check passes only if it passes in every run of its scenario."""
    verdicts = [(run, judge(expectation, run)) for run in runs]
    failed = [(run, v) for run, v in verdicts if v.passed is False]
    unknown = [(run, v) for run, v in verdicts if v.passed is None]
    if not runs:
        status, detail = Status.error, "no run of this scenario was made"
    elif failed:
        status = Status.failed
        run, verdict = failed[0]
        detail = verdict.message
        if len(runs) > 1:
            detail = f"{detail} [{run.label}; failed in {len(failed)} of {len(runs)} runs]"
    elif unknown:
        status = Status.error
        run, verdict = unknown[0]
        detail = f"could not check: {verdict.message}"
    else:
        status, detail = Status.passed, ""
    if status is Status.passed:
        message = ""
    elif expectation.message and status is Status.failed:
        message = f"{expectation.message} ({detail})" if detail else expectation.message
    else:
        message = detail
    return CheckResult(
        id=check_id,
        name=f"{scenario.name or scenario.id}: {expectation.title()}",
        status=status,
        score=expectation.points if status is Status.passed else 0.0,
        max_score=expectation.points,
        message=message,
        hint=expectation.hint if status is not Status.passed else None,
        visibility=expectation.visibility.value,
        scenario=scenario.id,
        kind=expectation.kind,
    )


def unrunnable_checks(exercise: Exercise, reason: str) -> list[CheckResult]:
    """Every check failed with the same reason (syntax error, missing file)."""
    ids = check_ids(exercise)
    return [
        CheckResult(
            id=ids[(scenario.id, index)],
            name=f"{scenario.name or scenario.id}: {expectation.title()}",
            status=Status.failed,
            score=0.0,
            max_score=expectation.points,
            message=reason,
            visibility=expectation.visibility.value,
            scenario=scenario.id,
            kind=expectation.kind,
        )
        for scenario in exercise.scenarios
        for index, expectation in enumerate(scenario.expect)
    ]


def merge_diagnostics(records: list[RunRecord]) -> list[Diagnostic]:
    """Each distinct finding once, student errors first, in a stable order."""
    seen: dict[tuple[str, str | None, int | None, str], int] = {}
    merged: list[Diagnostic] = []
    candidates: list[Diagnostic] = []
    for record in records:
        error = record.student_error
        if error is not None:
            candidates.append(
                Diagnostic(kind=error.kind, file=error.file, line=error.line, message=error.message)
            )
    for record in records:
        candidates.extend(record.diagnostics)
    for diagnostic in candidates:
        key = (diagnostic.kind, diagnostic.file, diagnostic.line, diagnostic.message)
        if key not in seen:
            seen[key] = len(merged)
            merged.append(diagnostic)
        elif diagnostic.checks:
            # the same finding from several checks: it belongs to each of them
            index = seen[key]
            checks = tuple(dict.fromkeys((*merged[index].checks, *diagnostic.checks)))
            merged[index] = merged[index].model_copy(update={"checks": checks})
    return merged


def overall_status(checks: list[CheckResult], max_score: float) -> Status:
    """passed iff every point was earned."""
    score = sum(c.score for c in checks)
    return Status.passed if abs(score - max_score) < 1e-9 else Status.failed
