"""A student's program that ends itself while the exercise's driver is still working gets a
message that says so, not a pass nor a bare "exit status" (driver mode only: a script may
exit as it likes)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

SPEC = """\
id = "exits"
title = "driver mode exits"
entry = ["mod.py"]
timeout = 10.0
start_methods = ["fork"]

[[scenarios]]
id = "call"
driver = "drivers/call.py"

  [[scenarios.expect]]
  kind = "stdout_count"
  name = "the driver finished"
  pattern = "^driver done$"
  expected = 1
"""

DRIVER = """\
def drive(student):
    student.work()
    print("driver done")
"""

SOURCES = {
    "fine": "def work():\n    print('working')\n",
    "os_exit_at_import": "import os\nos._exit(0)\n\ndef work():\n    pass\n",
    "os_exit_in_work": "import os\n\ndef work():\n    os._exit(0)\n",
    "sys_exit_in_work": "import sys\n\ndef work():\n    sys.exit(0)\n",
    "sys_exit_in_child": textwrap.dedent(
        """\
        import multiprocessing, sys

        def child():
            sys.exit(0)

        def work():
            p = multiprocessing.Process(target=child)
            p.start()
            p.join()
        """
    ),
}


@pytest.fixture
def exercise(tmp_path: Path) -> Path:
    folder = tmp_path / "exercise"
    (folder / "drivers").mkdir(parents=True)
    (folder / "exercise.toml").write_text(SPEC, encoding="utf-8")
    (folder / "drivers" / "call.py").write_text(DRIVER, encoding="utf-8")
    (folder / "mod.py").write_text("# starter\n", encoding="utf-8")
    return folder


def _graded(ipcgrade: Any, exercise: Path, tmp_path: Path, name: str) -> Any:
    submission = tmp_path / name
    submission.mkdir()
    (submission / "mod.py").write_text(SOURCES[name], encoding="utf-8")
    return ipcgrade(exercise, submission)


@pytest.mark.parametrize("name", ["fine", "sys_exit_in_child"])
def test_a_program_that_lets_the_driver_finish_passes(
    ipcgrade: Any, exercise: Path, tmp_path: Path, name: str
) -> None:
    result = _graded(ipcgrade, exercise, tmp_path, name)
    assert result.status.value == "passed", result.checks[0].message


@pytest.mark.parametrize("name", ["os_exit_at_import", "os_exit_in_work"])
def test_os_exit_before_the_driver_is_done_is_named(
    ipcgrade: Any, exercise: Path, tmp_path: Path, name: str
) -> None:
    result = _graded(ipcgrade, exercise, tmp_path, name)
    [check] = result.checks
    assert check.status.value == "failed"
    assert "ended before the exercise's driver was done" in (check.message or "")


def test_sys_exit_in_the_main_process_is_named_with_its_line(
    ipcgrade: Any, exercise: Path, tmp_path: Path
) -> None:
    result = _graded(ipcgrade, exercise, tmp_path, "sys_exit_in_work")
    [check] = result.checks
    assert check.status.value == "failed"
    assert "called sys.exit(0) before the driver was done" in (check.message or "")
    assert "mod.py, line 4" in (check.message or "")
