"""``--format junit | gradescope | markdown``: valid documents, checks mapped faithfully."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.plugins import get_plugin_manager, reporters
from ipcgrader.reporters.gradescope import results_json
from ipcgrader.reporters.junit import JUnitReporter, xml_text
from ipcgrader.reporters.markdown import render_markdown
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status

from conftest import EXERCISES, SCHEMAS, SUBMISSIONS

VARIANTS = SUBMISSIONS / "lock_ticket"


def _schema(name: str) -> Path:
    return SCHEMAS / name


def validate_junit(text: str) -> ET.Element:
    import xmlschema

    xmlschema.XMLSchema(_schema("junit-10.xsd")).validate(text)
    return ET.fromstring(text)


def validate_gradescope(text: str) -> dict[str, Any]:
    import jsonschema

    data: dict[str, Any] = json.loads(text)
    schema = json.loads(_schema("gradescope-results.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema)
    return data


def _check(n: int, status: Status, **extra: Any) -> CheckResult:
    return CheckResult(
        id=f"scn.kind{n}",
        name=f"check {n} | with a pipe",
        status=status,
        score=3.0 if status is Status.passed else 0.0,
        max_score=3.0,
        message="" if status is Status.passed else "sold 3 tickets\x00 (\x1b[31mred\x1b[0m)",
        hint=None if status is Status.passed else "hold the lock",
        scenario="scn",
        kind="stdout_count",
        **extra,
    )


MIXED = ExerciseResult(
    exercise="lock_ticket",
    submission="subs/alice",
    status=Status.failed,
    score=3.0,
    max_score=9.0,
    duration_s=1.23456,
    checks=[
        _check(1, Status.passed),
        _check(2, Status.failed, visibility="hidden"),
        _check(3, Status.error, visibility="after_due_date"),
    ],
    diagnostics=[Diagnostic(kind="race", file="ticket.py", line=21, message="write unlocked")],
)
BROKEN = ExerciseResult(
    exercise="lock_ticket",
    submission="subs/bob",
    status=Status.error,
    score=0.0,
    max_score=0.0,
    duration_s=0.0,
    error="RuntimeError: the grader tripped",
)


def test_the_formats_are_registered_builtins() -> None:
    names = reporters(get_plugin_manager(autoload=False)).names()
    assert {"junit", "gradescope", "markdown", "json", "terminal"} <= set(names)


def test_junit_has_a_testcase_per_check_and_is_valid() -> None:
    root = validate_junit(JUnitReporter().render(MIXED))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "lock_ticket"
    assert (suite.get("tests"), suite.get("failures"), suite.get("time")) == ("3", "2", "1.235")
    cases = suite.findall("testcase")
    assert cases[0].get("name") == "scn.kind1: check 1 | with a pipe"
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("type") == "failed"
    assert "hint: hold the lock" in (failure.text or "")
    error = cases[2].find("failure")
    assert error is not None and error.get("type") == "could-not-check"
    assert "ticket.py:21" in (suite.findtext("system-out") or "")


def test_junit_text_drops_what_xml_cannot_carry() -> None:
    assert xml_text("a\x00b\x1bc\ud800d\tok\n") == "a\ufffdb\ufffdc\ufffdd\tok\n"
    assert xml_text("购买成功 ✓") == "购买成功 ✓"


def test_junit_of_a_grader_error_is_one_failing_testcase() -> None:
    root = validate_junit(JUnitReporter().render(BROKEN))
    cases = root.findall("testsuite/testcase")
    assert len(cases) == 1 and root.get("failures") == "1"
    failure = cases[0].find("failure")
    assert failure is not None and "tripped" in (failure.get("message") or "")


def test_gradescope_results_are_valid_and_keep_points_and_visibility() -> None:
    for result in (MIXED, BROKEN):
        validate_gradescope(json.dumps(results_json(result)))
    data = results_json(MIXED)
    assert data["score"] == 3.0 and data["execution_time"] == pytest.approx(1.23456)
    tests = data["tests"]
    assert [t["status"] for t in tests] == ["passed", "failed", "failed"]
    assert [t["visibility"] for t in tests] == ["visible", "hidden", "after_due_date"]
    assert [(t["score"], t["max_score"]) for t in tests] == [(3.0, 3.0), (0.0, 3.0), (0.0, 3.0)]
    assert "Hint: hold the lock" in tests[1]["output"]
    assert "could not be made" in tests[2]["output"]
    assert "1. ticket.py, line 21: write unlocked" in data["output"]
    assert "grader failed" in results_json(BROKEN)["output"]


def test_markdown_is_a_table_that_pipes_and_newlines_cannot_break() -> None:
    text = render_markdown(MIXED)
    assert text.startswith("### ❌ lock_ticket: 3/9 points")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 3  # header + one row per check
    assert all(len(re.split(r"(?<!\\)\|", line)) == 6 for line in rows), rows
    assert "check 2 \\| with a pipe" in rows[2] and "*Hint: hold the lock*" in rows[2]
    assert "1. `ticket.py, line 21`: write unlocked" in text
    assert "The grader failed" in render_markdown(BROKEN)


def test_cli_writes_gradescope_results_where_run_autograder_expects_them(tmp_path: Path) -> None:
    # run_autograder: ipcgrade EXERCISE --submission /autograder/submission --format gradescope
    #                 --output /autograder/results/results.json
    submission = tmp_path / "autograder" / "submission"
    submission.mkdir(parents=True)
    (submission / "ticket.py").write_bytes((VARIANTS / "syntax_error.py").read_bytes())
    results = tmp_path / "autograder" / "results" / "results.json"
    code = main(
        [
            str(EXERCISES / "lock_ticket"),
            "--submission",
            str(submission),
            "--format",
            "gradescope",
            "--output",
            str(results),
        ]
    )
    assert code == 1
    data = validate_gradescope(results.read_text(encoding="utf-8"))
    assert data["score"] == 0 and data["tests"] and "SyntaxError" in data["output"]


def test_cli_junit_of_a_real_grading_is_valid(tmp_path: Path) -> None:
    out = tmp_path / "report.xml"
    args = ["--format", "junit", "--output", str(out), "--timeout", "3"]
    code = main(
        [str(EXERCISES / "lock_ticket"), "--submission", str(VARIANTS / "missing_task.py"), *args]
    )
    assert code == 1
    root = validate_junit(out.read_text(encoding="utf-8"))
    cases = root.findall("testsuite/testcase")
    assert cases and len(cases) == int(root.get("tests", "0"))
    failed = {c.get("name", "").split(":")[0] for c in cases if c.find("failure") is not None}
    assert "last-ticket.stdout_count" in failed
    assert "script.exit_code" not in failed  # the script itself has no missing function
