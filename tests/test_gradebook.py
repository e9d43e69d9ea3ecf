"""The gradebook (SQLite) and the exports made from it, on hand-made results."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
from pathlib import Path

import pytest

from ipcgrader.batch.exports import grades_csv, summary_markdown, write_exports
from ipcgrader.batch.gradebook import Fingerprint, Gradebook, GradebookError
from ipcgrader.reporters.json_report import result_object
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status

from conftest import SCHEMAS

FP = Fingerprint("sub", "spec", "ipcgrader 0.1.0")


def make_result(exercise: str, passed: list[bool], duration: float = 1.0) -> ExerciseResult:
    """A result with one 2-point check per entry of ``passed``."""
    checks = [
        CheckResult(
            id=f"s{i}.check",
            name=f"check {i}",
            status=Status.passed if ok else Status.failed,
            score=2.0 if ok else 0.0,
            max_score=2.0,
            message="" if ok else f"check {i} failed | badly\nline two \x07",
            hint=None if ok else "try harder",
        )
        for i, ok in enumerate(passed)
    ]
    score = sum(c.score for c in checks)
    return ExerciseResult(
        exercise=exercise,
        submission=f"subs/{exercise}",
        status=Status.passed if all(passed) else Status.failed,
        score=score,
        max_score=2.0 * len(passed),
        duration_s=duration,
        checks=checks,
        diagnostics=[Diagnostic(kind="race", file="ticket.py", line=3, message="unlocked")],
    )


@pytest.fixture
def book(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Gradebook(tmp_path / "out" / "gradebook.sqlite") as gradebook:
        gradebook.record("alice", FP, make_result("ex_a", [True, True]), run_time_s=3.0)
        gradebook.record("alice", FP, make_result("ex_b", [True, False]), run_time_s=1.0)
        gradebook.record("bob", FP, make_result("ex_a", [False, True]), run_time_s=9.0)
        gradebook.record("carol", FP, make_result("ex_a", [False, True]), run_time_s=0.5)
        yield gradebook


def test_each_grading_is_committed_at_once_and_queryable(book: Gradebook) -> None:
    # a second connection (another process, a user's sqlite3 shell) sees every row now
    other = sqlite3.connect(book.path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT count(*) FROM gradings").fetchone()[0] == 4
        row = other.execute(
            "SELECT submission_hash, spec_hash, grader_version, status, score, max_score, "
            "run_time_s, graded_at, diagnostics FROM gradings "
            "WHERE student = 'bob' AND exercise = 'ex_a'"
        ).fetchone()
        assert row[:7] == ("sub", "spec", "ipcgrader 0.1.0", "failed", 2.0, 4.0, 9.0)
        assert row[7].endswith("+00:00")
        assert json.loads(row[8])[0]["kind"] == "race"
        rates = dict(
            other.execute(
                "SELECT check_id, avg(status = 'passed') FROM checks "
                "WHERE exercise = 'ex_a' GROUP BY check_id"
            ).fetchall()
        )
        assert rates == {"s0.check": pytest.approx(1 / 3), "s1.check": 1.0}
    finally:
        other.close()


def test_a_new_grading_replaces_the_old_one_and_its_checks(book: Gradebook) -> None:
    book.record("bob", Fingerprint("sub2", "spec", "v"), make_result("ex_a", [True]))
    assert book.count() == 4
    bob = next(g for g in book.gradings() if g.student == "bob")
    assert bob.fingerprint.submission_hash == "sub2"
    assert [c.id for c in bob.result.checks] == ["s0.check"]
    rows = (
        sqlite3.connect(book.path)
        .execute("SELECT count(*) FROM checks WHERE student = 'bob'")
        .fetchone()
    )
    assert rows == (1,)


def test_stored_results_round_trip(book: Gradebook) -> None:
    stored = {(g.student, g.exercise): g for g in book.gradings()}
    assert stored[("alice", "ex_b")].result == make_result("ex_b", [True, False])
    assert stored[("bob", "ex_a")].run_time_s == 9.0


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "gradebook.sqlite"
    junk.write_bytes(b"this is not a database, it is a student's essay" * 100)
    with pytest.raises(GradebookError, match="not a usable gradebook"):
        Gradebook(junk)
    newer = tmp_path / "newer.sqlite"
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(GradebookError, match="format 99"):
        Gradebook(newer)


def test_grades_csv_has_a_row_per_student_and_a_column_per_exercise(book: Gradebook) -> None:
    rows = list(csv.reader(io.StringIO(grades_csv(list(book.gradings())))))
    assert rows == [
        ["student", "ex_a", "ex_b", "total"],
        ["alice", "4", "2", "6"],
        ["bob", "2", "", "2"],
        ["carol", "2", "", "2"],
    ]


def test_summary_ranks_the_most_common_mistake_first(book: Gradebook) -> None:
    text = summary_markdown(list(book.gradings()), note="_partial_")
    assert "**3 students**, 4 gradings: 1 with full marks, 3 below, 0 grader errors." in text
    assert "_partial_" in text
    checks = text.split("### Checks by pass rate")[1].split("###")[0]
    rows = [line for line in checks.splitlines() if line.startswith("| ex_")]
    # ex_a s0 passed 1/3, ex_b s1 0/1: the worst first; pipes in names cannot break the table
    assert rows[0].startswith("| ex_b | `s1.check`") and rows[0].endswith("| 0/1 | 0% |")
    assert rows[1].startswith("| ex_a | `s0.check`") and "1/3" in rows[1]
    slow = text.split("### Slowest submissions")[1]
    assert slow.index("| bob |") < slow.index("| alice |")  # by run time: 9 s before 3 s
    assert "| 100% | 1 |" in text.split("### ex_a")[1]


def test_write_exports_makes_every_file_and_appends_the_step_summary(
    book: Gradebook, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    step = tmp_path / "step_summary.md"
    step.write_text("# earlier step\n")
    gradings = list(book.gradings())
    write_exports(gradings, out, step_summary=step)
    assert step.read_text().startswith("# earlier step\n## ipcgrader: batch summary")
    assert (out / "summary.md").read_text() in step.read_text()
    for g in gradings:
        data = json.loads((out / "results" / g.student / f"{g.exercise}.json").read_text())
        assert data == json.loads(json.dumps(result_object(g.result)))
        assert set(data) >= {"exercise", "submission", "status", "score", "max_score"}
    assert len(list((out / "results").rglob("*.json"))) == 4
    _validate_junit(out / "junit.xml", suites=4, cases=8, failures=3)
    assert (out / "grades.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    feedback = sorted((out / "results").rglob("*.md"))
    assert len(feedback) == 4 and all(f.with_suffix(".json").exists() for f in feedback)


def test_feedback_files_speak_the_course_language_and_leave_hidden_checks_out(
    book: Gradebook, tmp_path: Path
) -> None:
    gradings = list(book.gradings())
    hidden = (
        gradings[0]
        .result.checks[0]
        .model_copy(update={"visibility": "hidden", "name": "a secret check"})
    )
    first = gradings[0].result.model_copy(
        update={"checks": [hidden, *gradings[0].result.checks[1:]]}
    )
    gradings[0] = dataclasses.replace(gradings[0], result=first)
    write_exports(gradings, tmp_path / "zh", feedback_lang="zh")
    write_exports(gradings, tmp_path / "en", feedback_lang="en")
    g = gradings[0]
    zh = (tmp_path / "zh" / "results" / g.student / f"{g.exercise}.md").read_text("utf-8")
    en = (tmp_path / "en" / "results" / g.student / f"{g.exercise}.md").read_text("utf-8")
    assert "| 检查 |" in zh and "| Check |" in en
    assert "a secret check" not in zh and "a secret check" not in en


def _validate_junit(path: Path, suites: int, cases: int, failures: int) -> None:
    import xml.etree.ElementTree as ET

    import xmlschema

    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(path)
    root = ET.parse(path).getroot()
    assert len(root.findall("testsuite")) == suites
    assert len(root.findall("testsuite/testcase")) == cases
    assert root.get("failures") == str(failures)
    assert len(root.findall("testsuite/testcase/failure")) == failures
    names = [s.get("name") for s in root.findall("testsuite")]
    assert names == sorted(names) and "alice/ex_a" in names
