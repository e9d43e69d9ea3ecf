"""Turn per-run verdicts into check results and a grading result. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

from ipcgrader.checks.explain import GIVEN_LOCK_NEVER_ACQUIRED
from ipcgrader.i18n import Text, _, join, ngettext
from ipcgrader.models import Exercise, Expectation, Scenario
from ipcgrader.needs import unmet
from ipcgrader.results import (
    CheckResult,
    Diagnostic,
    ExerciseCodeError,
    RunRecord,
    Status,
    Verdict,
    stopped_verdict,
)

#: Module-name prefix of an exercise folder's plugin.py (see plugins.load_exercise_plugin).
EXERCISE_PLUGIN_PREFIX = "ipcgrader_exercise_plugin_"
#: How a run is stopped at no particular point of what it does: its CPU budget runs out
#: wherever a spinning loop happens to be, which depends on how much CPU the machine gave
#: it. A pass there (no exception *yet*, a need not met *yet*) would differ from grading to
#: grading; only what every stop point shares may be judged.
STOPPED_ANYWHERE = frozenset({"cpu_budget"})


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
            return stopped_verdict(problem)
    try:
        verdict = expectation.evaluate(run)
        if verdict.passed:
            if (
                run.outcome.stopped in STOPPED_ANYWHERE
                and not expectation.pass_holds_when_stopped()
            ):
                # what it saw up to the stop: the same run stopped later could have failed
                return stopped_verdict(run.problem() or _("was stopped"))
            # a pass counts only if what the check needs happened (ipcgrader.needs)
            verdict = unmet(expectation, run) or verdict
        return verdict
    except Exception as exc:  # a buggy check must not sink the grading
        if type(expectation).__module__.startswith(EXERCISE_PLUGIN_PREFIX):
            # a kind from the exercise's own plugin.py: the exercise's error
            where = _plugin_location(exc) or f"plugin.py: {type(exc).__name__}: {exc}"
            raise ExerciseCodeError(where) from exc
        return Verdict(
            None,
            _("internal error in check {kind!r}: {error!r}").format(
                kind=expectation.kind, error=exc
            ),
        )


def scenario_words(scenario: Scenario, methods: Sequence[str]) -> str:
    """The scenario as a student reads it: its name, and the start methods it runs under
    when they are not just the usual fork ("1 ticket, 4 buyers; also under spawn")."""
    name = scenario.name or scenario.id
    others = [m for m in methods if m != "fork"]
    if not others or all(m in name for m in others):
        # a name that already says its start method ("main() under spawn", "spawn 启动方式下
        # 的 main()") is not told it again
        return name
    listed = ", ".join(others)
    if "fork" in methods:
        return _("{scenario}; also under {methods}").format(scenario=name, methods=listed)
    return _("{scenario}; under {methods}").format(scenario=name, methods=listed)


def _which_runs(failed: list[RunRecord], runs: list[RunRecord]) -> str:
    """How many runs failed, said only when the runs differed (some passed)."""
    methods = {r.start_method for r in failed}
    passed_methods = {r.start_method for r in runs if r not in failed}
    if len(methods) == 1 and not methods & passed_methods and None not in methods:
        return _("(failed only under {method})").format(method=next(iter(methods)))
    return ngettext(
        "(failed in {failed} of {runs} run; the others passed)",
        "(failed in {failed} of {runs} runs; the others passed)",
        len(runs),
    ).format(failed=len(failed), runs=len(runs))


def _plugin_location(exc: BaseException) -> str | None:
    import traceback

    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.endswith("plugin.py"):
            found = f"plugin.py:{frame.lineno}: {type(exc).__name__}: {exc}"
    return found


def could_not_check(
    check_id: str, scenario: Scenario, expectation: Expectation, exercise: Exercise | None = None
) -> CheckResult:
    """A check the exercise's own failure prevented: "could not check", no points."""
    methods: Sequence[str] = exercise.start_methods_of(scenario) if exercise else ()
    return CheckResult(
        id=check_id,
        name=_("{scenario}: {check}").format(
            scenario=scenario.name or scenario.id, check=expectation.title()
        ),
        title=expectation.title(),
        scenario_name=scenario_words(scenario, methods),
        status=Status.error,
        score=0.0,
        max_score=expectation.points,
        message=_("could not check: the exercise itself failed (not your code)"),
        visibility=expectation.visibility.value,
        scenario=scenario.id,
        kind=expectation.kind,
    )


def score_check(
    check_id: str,
    scenario: Scenario,
    expectation: Expectation,
    runs: list[RunRecord],
    methods: list[str] | None = None,
) -> CheckResult:
    """A check passes only if it passes in every run of its scenario.

    A failure that a finding explains (the verdict has diagnostics) says only the exercise's
    message: the finding is written once, in the findings, and names this check in
    ``checks``. Other failures say what happened. How many runs failed is said only when
    the runs differed.
    """
    verdicts = [(run, judge(expectation, run)) for run in runs]
    failed = [(run, v) for run, v in verdicts if v.passed is False]
    unknown = [(run, v) for run, v in verdicts if v.passed is None]
    parts: list[str] = []
    verdict = Verdict(True)
    if not runs:
        status = Status.error
        parts.append(_("no run of this scenario was made"))
    elif failed:
        status = Status.failed
        # a failure of the check's own comes first: one only because a run was stopped
        # says how that run ended and claims nothing of what the check looks for
        verdict = min((v for _r, v in failed), key=lambda v: v.stopped)
        if expectation.message and not verdict.stopped:
            parts.append(expectation.message)
        if verdict.diagnostics and not isinstance(verdict.message, Text):
            # a check's verdict quoting its finding: keep the finding's source, so the
            # message can be said in another language too
            for finding in verdict.diagnostics:
                if finding.message == verdict.message and "message" in finding.i18n:
                    verdict.message = Text(finding.message, finding.i18n["message"])
                    break
        if verdict.message and not (verdict.diagnostics and parts):
            # a finding's own words only when the exercise has none: reports that list
            # findings leave them out there (each finding is said once)
            parts.append(verdict.message)
        if len(failed) < len(runs):
            parts.append(_which_runs([r for r, _v in failed], runs))
    elif unknown:
        status = Status.error
        verdict = unknown[0][1]
        parts.append(_("could not check: {reason}").format(reason=verdict.message))
    else:
        status = Status.passed
    words = scenario_words(scenario, methods or [])
    title = expectation.title()
    return CheckResult(
        id=check_id,
        name=_("{scenario}: {check}").format(scenario=scenario.name or scenario.id, check=title),
        title=title,
        scenario_name=words,
        status=status,
        score=expectation.points if status is Status.passed else 0.0,
        max_score=expectation.points,
        message=join(parts) if status is not Status.passed else "",
        hint=expectation.hint if status is Status.failed and not verdict.stopped else None,
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
            name=_("{scenario}: {check}").format(
                scenario=scenario.name or scenario.id, check=expectation.title()
            ),
            title=expectation.title(),
            scenario_name=scenario_words(scenario, list(exercise.start_methods_of(scenario))),
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
    return _one_crash(_one_unused_lock(merged))


def _given(diagnostic: Diagnostic) -> bool:
    """A finding of a lock the exercise handed over, said where it was needed."""
    source = diagnostic.i18n.get("message")
    return (
        diagnostic.kind == "lock_never_acquired"
        and isinstance(source, dict)
        and source.get("msg") == GIVEN_LOCK_NEVER_ACQUIRED
    )


def _one_unused_lock(found: list[Diagnostic]) -> list[Diagnostic]:
    """A lock that is never acquired is one mistake, however many runs saw it: a driven run
    sees the lock the exercise hands over (said where it was needed), the student's own main
    program sees the lock it makes (said where it is made). Keep one finding, the made one
    when there is one, with the checks of all."""
    unused = [d for d in found if d.kind == "lock_never_acquired"]
    made = [d for d in unused if d.file and not _given(d)]
    keep = made[0] if made else next((d for d in unused if d.file), None)
    if keep is None:
        return found
    # the same lock found where it is made is kept each time it was found at another line
    dropped = [d for d in unused if d is not keep and (_given(d) or not d.file)]
    if not dropped:
        return found
    checks = tuple(dict.fromkeys((*keep.checks, *(c for d in dropped for c in d.checks))))
    return [
        keep.model_copy(update={"checks": checks}) if d is keep else d
        for d in found
        if not any(d is x for x in dropped)
    ]


def _one_crash(found: list[Diagnostic]) -> list[Diagnostic]:
    """A child's crash read from stderr (``no_exception``, whose check quotes it) and the
    same crash read from the trace (``child_crashed``, at the same line) are one finding:
    the first is kept, with the checks of both and the trace's hint."""
    quoted: dict[tuple[str | None, int | None], int] = {
        (d.file, d.line): i
        for i, d in enumerate(found)
        if d.kind == "uncaught_exception" and d.file and d.line
    }
    merged: dict[int, Diagnostic] = {}
    dropped: set[int] = set()
    for i, crash in enumerate(found):
        j = quoted.get((crash.file, crash.line)) if crash.kind == "child_crashed" else None
        if j is None:
            continue
        kept = merged.get(j, found[j])
        update: dict[str, object] = {"checks": tuple(dict.fromkeys((*kept.checks, *crash.checks)))}
        if kept.hint is None and crash.hint is not None:
            update["hint"] = crash.hint
            if "hint" in crash.i18n:
                update["i18n"] = {**kept.i18n, "hint": crash.i18n["hint"]}
        merged[j] = kept.model_copy(update=update)
        dropped.add(i)
    return [merged.get(i, d) for i, d in enumerate(found) if i not in dropped]


def overall_status(checks: list[CheckResult], max_score: float) -> Status:
    """passed iff every point was earned."""
    score = sum(c.score for c in checks)
    return Status.passed if abs(score - max_score) < 1e-9 else Status.failed
