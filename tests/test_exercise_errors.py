"""A failure in exercise-owned code (driver, helper beside it, plugin.py) is the exercise's:
the grading is an error (exit 2) naming the exercise's file and line, the checks it
prevented read "could not check", and none of it is among the student's findings. The
student's own code raising inside a driver call stays the student's."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.results import Status

SPEC = """\
id = "calc"
title = "calc"
entry = ["calc.py"]
timeout = 20.0

[[scenarios]]
id = "add"
driver = "drivers/check.py"
params = { a = 2, b = 3 }
collect = ["out.txt"]

  [[scenarios.expect]]
  kind = "finishes"

  [[scenarios.expect]]
  kind = "exit_code"

[[scenarios]]
id = "script"
  [[scenarios.expect]]
  kind = "exit_code"
"""

GOOD_DRIVER = """\
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
import helper


def drive(student, a, b):
    helper.record(student.add(a, b))
"""
HELPER = """\
def record(value):
    with open("out.txt", "w") as handle:
        handle.write(str(value))
"""
SOLUTION = "def add(a, b):\n    return a + b\n"


def _exercise(root: Path, driver: str = GOOD_DRIVER, plugin: str | None = None) -> Path:
    folder = root / "calc"
    (folder / "drivers").mkdir(parents=True)
    (folder / "exercise.toml").write_text(SPEC, encoding="utf-8")
    (folder / "drivers" / "check.py").write_text(driver, encoding="utf-8")
    (folder / "drivers" / "helper.py").write_text(HELPER, encoding="utf-8")
    (folder / "calc.py").write_text("def add(a, b):\n    pass\n", encoding="utf-8")
    if plugin is not None:
        (folder / "plugin.py").write_text(textwrap.dedent(plugin), encoding="utf-8")
    return folder


def _solution(root: Path, source: str = SOLUTION) -> Path:
    folder = root / "student"
    folder.mkdir()
    (folder / "calc.py").write_text(source, encoding="utf-8")
    return folder


def _assert_exercise_error(result: Any, where: str) -> None:
    assert result.status is Status.error
    assert result.exercise_error is not None and result.exercise_error.startswith(where)
    assert result.error.startswith("exercise error: ")
    driven = [c for c in result.checks if c.scenario == "add"]
    assert driven and all(c.status is Status.error for c in driven)
    assert all("could not check" in c.message for c in driven)
    assert not any(where.split(":")[0] in (d.file or "") for d in result.diagnostics)
    assert not any("NameError" in d.message for d in result.diagnostics)


def test_a_name_error_in_the_driver_is_the_exercises(ipcgrade: Any, tmp_path: Path) -> None:
    driver = GOOD_DRIVER.replace("helper.record(", "helpr.record(")
    result = ipcgrade(_exercise(tmp_path, driver), _solution(tmp_path))
    _assert_exercise_error(result, "drivers/check.py:9: NameError")


def test_a_failing_helper_of_the_driver_is_the_exercises(ipcgrade: Any, tmp_path: Path) -> None:
    folder = _exercise(tmp_path)
    (folder / "drivers" / "helper.py").write_text(
        HELPER.replace('open("out.txt", "w")', 'open("out.txt", "wx")'), encoding="utf-8"
    )
    result = ipcgrade(folder, _solution(tmp_path))
    _assert_exercise_error(result, "drivers/helper.py:2: ValueError")


def test_a_driver_failing_at_import_is_the_exercises(ipcgrade: Any, tmp_path: Path) -> None:
    driver = GOOD_DRIVER.replace("import helper\n", "import helper\nLIMIT = undefined_name\n")
    result = ipcgrade(_exercise(tmp_path, driver), _solution(tmp_path))
    _assert_exercise_error(result, "drivers/check.py:6: NameError")


def test_the_students_exception_inside_a_driver_call_stays_theirs(
    ipcgrade: Any, tmp_path: Path
) -> None:
    source = "def add(a, b):\n    return a + undefined\n"
    result = ipcgrade(_exercise(tmp_path), _solution(tmp_path, source))
    assert result.status is Status.failed
    assert result.exercise_error is None
    assert any(d.file == "calc.py" and d.line == 2 for d in result.diagnostics)


#: A driver whose code the student's code calls back (as a driver's wrapper of
#: ``Process.start`` is called by the student's ``p.start()``).
CALLED_BACK = """\
import json


def drive(student, a, b):
    def keep(value):
        with open("out.txt", "w") as handle:
            json.dump(value, handle)

    student.add(a, b, keep)
"""


def test_a_library_raising_under_a_driver_frame_the_student_called_stays_theirs(
    ipcgrade: Any, tmp_path: Path
) -> None:
    """The innermost owned frame is the driver's callback, but the exception is raised in a
    library (json) about what the student handed over, with the student's code on the
    stack: the student's (like a lambda target pickled under spawn)."""
    source = "def add(a, b, keep):\n    keep({a, b})\n"
    result = ipcgrade(_exercise(tmp_path, CALLED_BACK), _solution(tmp_path, source))
    assert result.status is Status.failed
    assert result.exercise_error is None
    assert any(d.file == "calc.py" and d.line == 2 for d in result.diagnostics)


def test_a_driver_callback_raising_itself_is_the_exercises(ipcgrade: Any, tmp_path: Path) -> None:
    """The same call path, but the driver's own code raises: the exercise's, though the
    student's code is on the stack."""
    driver = CALLED_BACK.replace("json.dump(", "jsn.dump(")
    source = "def add(a, b, keep):\n    keep(a + b)\n"
    result = ipcgrade(_exercise(tmp_path, driver), _solution(tmp_path, source))
    _assert_exercise_error(result, "drivers/check.py:7: NameError")


def test_a_plugin_kind_that_raises_is_the_exercises(ipcgrade: Any, tmp_path: Path) -> None:
    plugin = """\
        from typing import Literal

        from ipcgrader import hookimpl
        from ipcgrader.models import Expectation


        class Broken(Expectation):
            kind: Literal["broken"]

            def evaluate(self, run):
                return run.no_such_attribute


        @hookimpl
        def ipcgrader_add_expectation_kinds(kinds):
            kinds.add(Broken)
        """
    folder = _exercise(tmp_path, plugin=plugin)
    spec = folder / "exercise.toml"
    spec.write_text(
        spec.read_text(encoding="utf-8").replace('kind = "finishes"', 'kind = "broken"', 1),
        encoding="utf-8",
    )
    result = ipcgrade(folder, _solution(tmp_path))
    _assert_exercise_error(result, "plugin.py:11: AttributeError")


def test_the_cli_exits_2_and_says_exercise_error(tmp_path: Path, capsys: Any) -> None:
    driver = GOOD_DRIVER.replace("helper.record(", "helpr.record(")
    folder = _exercise(tmp_path, driver)
    code = main([str(folder), "--submission", str(_solution(tmp_path)), "--format", "json"])
    out = capsys.readouterr().out
    assert code == 2
    assert "exercise error: drivers/check.py:9: NameError" in out


@pytest.mark.parametrize("fine", [True, False], ids=["fine", "broken"])
def test_batch_counts_exercise_errors_apart(tmp_path: Path, capsys: Any, fine: bool) -> None:
    driver = GOOD_DRIVER if fine else GOOD_DRIVER.replace("helper.record(", "helpr.record(")
    folder = _exercise(tmp_path, driver)
    submissions = tmp_path / "submissions"
    (submissions / "alice").mkdir(parents=True)
    (submissions / "alice" / "calc.py").write_text(SOLUTION, encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            str(folder),
            "--submissions",
            str(submissions),
            "--out",
            str(out),
            "-j",
            "1",
            "--progress",
            "plain",
        ]
    )
    captured = capsys.readouterr()
    summary = (out / "summary.md").read_text(encoding="utf-8")
    if fine:
        assert code == 0
        assert "exercise itself failed" not in summary
    else:
        assert code == 2, captured
        assert "because the exercise failed" in captured.err
        assert "exercise itself failed" in summary
