"""Findings that only hidden checks produced never reach a student-visible place."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.reporters.gradescope import results_json
from ipcgrader.results import (
    CheckResult,
    Diagnostic,
    ExerciseResult,
    Status,
    student_diagnostics,
    student_view,
)

from conftest import EXERCISES, SUBMISSIONS

TRACE_KINDS = ("no_race", "atomic_update", "concurrent", "children_ok")


def _result() -> ExerciseResult:
    checks = [
        CheckResult(id="a.shown", name="shown", status=Status.failed, score=0, max_score=2),
        CheckResult(
            id="a.secret",
            name="secret",
            status=Status.failed,
            score=0,
            max_score=3,
            message="hidden failure",
            visibility="hidden",
        ),
    ]
    diagnostics = [
        Diagnostic(kind="crash", file="t.py", line=3, message="grader found this"),
        Diagnostic(kind="race", file="t.py", line=9, message="SECRET race", checks=("a.secret",)),
        Diagnostic(kind="both", message="seen by both", checks=("a.secret", "a.shown")),
    ]
    return ExerciseResult(
        exercise="x",
        submission="s",
        status=Status.failed,
        score=0,
        max_score=5,
        duration_s=0.1,
        checks=checks,
        diagnostics=diagnostics,
    )


def test_hidden_findings_are_withheld_from_the_student() -> None:
    result = _result()
    assert [d.kind for d in student_diagnostics(result)] == ["crash", "both"]
    view = student_view(result)
    assert [c.id for c in view.checks] == ["a.shown"]
    assert (view.score, view.max_score) == (0, 2)
    assert "SECRET" not in view.model_dump_json()


def test_gradescope_puts_hidden_findings_only_in_the_hidden_test() -> None:
    data = results_json(_result())
    assert "SECRET" not in data["output"]
    assert "grader found this" in data["output"] and "seen by both" in data["output"]
    secret = next(t for t in data["tests"] if t["extra_data"]["id"] == "a.secret")
    assert secret["visibility"] == "hidden"
    assert "SECRET race" in secret["output"]


@pytest.fixture(scope="module")
def hidden_lock_ticket(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """lock_ticket with every trace check hidden."""
    folder = tmp_path_factory.mktemp("hidden") / "lock_ticket"
    shutil.copytree(EXERCISES / "lock_ticket", folder)
    spec = folder / "exercise.toml"
    text = spec.read_text(encoding="utf-8")
    pattern = re.compile(r'(kind = "(?:' + "|".join(TRACE_KINDS) + r')"\n)')
    text = pattern.sub(lambda m: m.group(1) + '  visibility = "hidden"\n', text)
    spec.write_text(text, encoding="utf-8")
    return folder


def test_hidden_trace_checks_findings_stay_out_of_student_outputs(
    hidden_lock_ticket: Path, tmp_path: Path, capsys: Any
) -> None:
    variant = SUBMISSIONS / "lock_ticket" / "no_lock.py"
    out = tmp_path / "results.json"
    code = main(
        [
            str(hidden_lock_ticket),
            "--submission",
            str(variant),
            "--format",
            "gradescope",
            "-o",
            str(out),
        ]
    )
    assert code == 1
    data = json.loads(out.read_text(encoding="utf-8"))
    hidden = [t for t in data["tests"] if t["visibility"] == "hidden"]
    assert hidden and any(t["status"] == "failed" for t in hidden)
    assert "race" not in data["output"].lower(), data["output"]
    # the race findings are there, with the hidden checks that found them
    assert any("lock" in t["output"] for t in hidden if t["status"] == "failed")
    assert (
        main(
            [
                str(hidden_lock_ticket),
                "--submission",
                str(variant),
                "--view",
                "student",
                "--format",
                "markdown",
            ]
        )
        == 1
    )
    student = capsys.readouterr().out
    assert "no_race" not in student and "race" not in student.lower(), student
