"""``--format classroom`` and ``--format github``: what GitHub Classroom and GitHub Actions
read, from one real grading of the starter plus small hand-made results."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager, reporters
from ipcgrader.reporters.classroom import encoded, results_object
from ipcgrader.reporters.github import command, escape_data, escape_property, workflow_commands
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status
from ipcgrader.session import grade

from conftest import EXERCISES, ROOT, SCHEMAS

STARTER = EXERCISES / "lock_ticket"


def validate_classroom(data: dict[str, Any]) -> dict[str, Any]:
    import jsonschema

    schema = json.loads((SCHEMAS / "classroom-results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    return data


@pytest.fixture(scope="module")
def starter() -> ExerciseResult:
    pm = get_plugin_manager(autoload=False)
    return grade(load_exercise(STARTER, pm), STARTER, pm)


def test_classroom_and_github_are_registered() -> None:
    names = reporters(get_plugin_manager(autoload=False)).names()
    assert {"classroom", "github"} <= set(names)


def test_classroom_results_validate_and_carry_partial_credit(starter: ExerciseResult) -> None:
    assert 0 < starter.score < starter.max_score
    data = validate_classroom(results_object(starter))
    assert data["status"] == "fail" and data["max_score"] == starter.max_score
    assert len(data["tests"]) == len(starter.checks)
    assert sum(t["score"] for t in data["tests"]) == pytest.approx(starter.score)
    failed = [t for t in data["tests"] if t["status"] == "fail"]
    assert failed and all(t["score"] == 0 and t["message"] for t in failed)
    assert any("Hint:" in t["message"] for t in failed)
    # the step output the reporter action decodes
    assert json.loads(base64.b64decode(encoded(starter))) == data


def _check(n: int, status: Status, visibility: str = "visible") -> CheckResult:
    return CheckResult(
        id=f"s.k{n}",
        name=f"secret name {n}",
        status=status,
        score=2.0 if status is Status.passed else 0.0,
        max_score=2.0,
        message="" if status is Status.passed else f"secret message {n}",
        hint=None if status is Status.passed else "secret hint",
        visibility=visibility,
    )


def test_classroom_hides_hidden_checks_but_keeps_their_points() -> None:
    result = ExerciseResult(
        exercise="ex",
        submission="s",
        status=Status.failed,
        score=2.0,
        max_score=6.0,
        duration_s=0.1,
        checks=[
            _check(1, Status.passed, "hidden"),
            _check(2, Status.failed, "after_due_date"),
            _check(3, Status.error),
        ],
    )
    data = validate_classroom(results_object(result))
    assert sum(t["score"] for t in data["tests"]) == 2.0
    assert [t["status"] for t in data["tests"]] == ["pass", "fail", "error"]
    hidden = json.dumps(data["tests"][:2])
    assert "secret" not in hidden
    assert "secret message 3" in data["tests"][2]["message"]


def test_classroom_of_a_grader_error_is_an_error() -> None:
    broken = ExerciseResult(
        exercise="ex", submission="s", status=Status.error, score=0, max_score=0,
        duration_s=0, error="RuntimeError: tripped",
    )  # fmt: skip
    data = validate_classroom(results_object(broken))
    assert data["status"] == "error" and "tripped" in data["tests"][0]["message"]


def test_workflow_commands_are_escaped() -> None:
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = command("error", "two\n::error::forged", file="x,y.py", line=3, title="t:1")
    assert line == "::error file=x%2Cy.py,line=3,title=t%3A1::two%0A::error::forged"
    assert "\n" not in line
    assert command("notice", "done") == "::notice::done"


def test_github_annotates_the_starter_at_its_real_lines(
    starter: ExerciseResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    lines = workflow_commands(starter).splitlines()
    located = [
        (m[1], int(m[2]))
        for m in (re.match(r"::error file=([^,]+),line=(\d+),", line) for line in lines)
        if m
    ]
    source = (STARTER / "ticket.py").read_text(encoding="utf-8").splitlines()
    assert located and {f for f, _ in located} == {"exercises/lock_ticket/ticket.py"}
    # the read and the write of ticket.json in paid(), and the Lock that is never acquired
    assert {n for _, n in located} >= {29, 41}
    assert "mode='w'" in source[29 - 1] and "Lock()" in source[41 - 1]
    assert lines[-1].startswith("::notice title=lock_ticket::")
    assert f"{starter.score:g}/{starter.max_score:g} points" in lines[-1]


def test_format_github_writes_the_job_summary(
    starter: ExerciseResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ipcgrader.reporters.json_report import JsonReporter

    stored = tmp_path / "result.json"
    stored.write_text(JsonReporter().render(starter), encoding="utf-8")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_WORKSPACE", str(ROOT))
    code = main(["report", str(stored), "--format", "github"])
    out = capsys.readouterr().out
    assert code == 0
    assert "::error file=exercises/lock_ticket/ticket.py,line=29," in out
    assert out.splitlines()[-1].startswith("::notice title=lock_ticket::")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n") and "lock_ticket" in text
    assert f"{starter.score:g}/{starter.max_score:g}" in text


def test_github_keeps_what_only_hidden_checks_found_out_of_annotations() -> None:
    result = ExerciseResult(
        exercise="ex",
        submission="s",
        status=Status.failed,
        score=0.0,
        max_score=4.0,
        duration_s=0.1,
        checks=[_check(1, Status.failed, "hidden"), _check(2, Status.failed)],
        diagnostics=[
            Diagnostic(
                kind="race", file="a.py", line=3, message="hidden finding", checks=("s.k1",)
            ),
            Diagnostic(kind="race", file="a.py", line=5, message="shown finding", checks=("s.k2",)),
        ],
    )
    text = workflow_commands(result)
    assert "shown finding" in text and "hidden finding" not in text
    # titled by the check that made it
    assert text.startswith("::error file=s/a.py,line=5,title=ex%3A secret name 2::shown finding")


def test_an_exercise_error_is_not_charged_to_the_student() -> None:
    broken = ExerciseResult(
        exercise="ex", submission="s", status=Status.error, score=0, max_score=4,
        duration_s=0, checks=[_check(1, Status.error), _check(2, Status.passed)],
        error="exercise error: drivers/buy.py:3: NameError: x",
        exercise_error="drivers/buy.py:3: NameError: x",
    )  # fmt: skip
    data = validate_classroom(results_object(broken))
    assert data["status"] == "error" and len(data["tests"]) == 1
    assert "not your code" in data["tests"][0]["message"]
    assert "drivers/buy.py:3" in data["tests"][0]["message"]
    last = workflow_commands(broken).splitlines()[-1]
    assert last.startswith("::error title=ex::") and "not your code" in last
