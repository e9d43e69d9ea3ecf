"""Every known variant under tests/submissions/<exercise>/ gets its expected verdict.

The manifest of each exercise is ``expected.toml`` (format in the lock_ticket one).
Variants run with their exercise's own timeouts unless the manifest gives one (short for
variants that hang, so they cost little; never short for ones that must finish: on a busy
2-core machine a correct spawn run can take seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import EXERCISES, SUBMISSIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _cases() -> list[Any]:
    cases = []
    for manifest in sorted(SUBMISSIONS.glob("*/expected.toml")):
        exercise = manifest.parent.name
        for variant, expected in tomllib.loads(manifest.read_text(encoding="utf-8")).items():
            path = manifest.parent / expected.get("file", f"{variant}.py")
            marks = []
            if expected.get("waiting"):
                marks.append(pytest.mark.xfail(reason=expected["waiting"], strict=False))
            cases.append(
                pytest.param(exercise, path, expected, id=f"{exercise}/{variant}", marks=marks)
            )
    return cases


@pytest.mark.parametrize(("exercise", "path", "expected"), _cases())
def test_variant_verdict(
    ipcgrade: Any, exercise: str, path: Path, expected: dict[str, Any]
) -> None:
    timeout = expected.get("timeout")  # None: the exercise's own
    result = ipcgrade(EXERCISES / exercise, path, timeout=timeout)
    by_id = {check.id: check for check in result.checks}
    unknown = [
        c for c in [*expected.get("fails", []), *expected.get("passes", [])] if c not in by_id
    ]
    assert not unknown, f"manifest names checks that do not exist: {unknown}"
    summary = "\n".join(f"{c.id}: {c.status.value} {c.message}" for c in result.checks)
    assert result.status.value == expected["status"], summary
    for check_id in expected.get("fails", []):
        assert by_id[check_id].status.value == "failed", f"{check_id} should fail\n{summary}"
        assert by_id[check_id].message, f"{check_id} failed without saying why"
    for check_id in expected.get("passes", []):
        assert by_id[check_id].status.value == "passed", f"{check_id} should pass\n{summary}"
    kinds = {d.kind for d in result.diagnostics}
    for kind in expected.get("diagnostics", []):
        assert kind in kinds, f"no {kind} diagnostic; got {sorted(kinds)}"
    places = {f"{d.kind}:{d.line}" for d in result.diagnostics}
    for place in expected.get("at", []):
        assert place in places, f"no diagnostic {place}; got {sorted(places)}"
    if expected["status"] == "passed":
        assert result.score == result.max_score


def test_every_exercise_has_a_full_marks_solution(ipcgrade: Any) -> None:
    exercises = sorted(p.parent for p in EXERCISES.glob("*/exercise.toml"))
    assert exercises
    for exercise in exercises:
        solution = Path(__file__).resolve().parents[1] / "solutions" / exercise.name
        assert solution.is_dir(), f"no solutions/{exercise.name}"
        result = ipcgrade(exercise, solution)
        failing = [f"{c.id}: {c.message}" for c in result.checks if c.status.value != "passed"]
        assert result.score == result.max_score, failing
