"""The pytest plugin: an exercise folder collected as one test item per check, graded once;
each run is a real ``python -m pytest`` in a subprocess, as a course's CI would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import EXERCISES, ROOT, SCHEMAS, SOLUTIONS

LOCK_TICKET = EXERCISES / "lock_ticket"
#: lock_ticket's checks (the spec's [[scenarios.expect]] tables).
N_CHECKS = (LOCK_TICKET / "exercise.toml").read_text(encoding="utf-8").count("[[scenarios.expect]]")


def pytest_run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def outcome_counts(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    counts = {}
    for part in last.strip("= ").split(" in ")[0].split(", "):
        number, word = part.split(" ", 1)
        counts[word] = int(number)
    return counts


def test_the_solution_passes_every_check_and_junit_carries_the_points(tmp_path: Path) -> None:
    import xmlschema

    report = tmp_path / "junit.xml"
    run = pytest_run(
        LOCK_TICKET, "--ipcgrade-submission", SOLUTIONS / "lock_ticket", f"--junitxml={report}"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert outcome_counts(run.stdout) == {"passed": N_CHECKS}
    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(str(report))
    root = ET.parse(report).getroot()
    cases = root.findall(".//testcase")
    assert len(cases) == N_CHECKS
    assert {c.get("name") for c in cases} >= {"last-ticket.no_race", "script.final_json"}
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    points = [v for k, v in props.items() if k and k.endswith(" points")]
    assert len(points) == N_CHECKS
    got = sum(float(v.split("/")[0]) for v in points if v)
    assert props["exercises/lock_ticket/exercise.toml score"] == f"{got:g}/{got:g}"


@pytest.fixture(scope="module")
def starter_run() -> subprocess.CompletedProcess[str]:
    # the exercise named on the command line grades its own (starter) files
    return pytest_run(LOCK_TICKET, "-rf")


def test_the_starter_fails_one_item_per_failing_check(
    starter_run: subprocess.CompletedProcess[str],
) -> None:
    out = starter_run.stdout
    assert starter_run.returncode == 1
    counts = outcome_counts(out)
    assert counts["failed"] >= 3 and counts["failed"] + counts["passed"] == N_CHECKS
    assert "FAILED exercises/lock_ticket/exercise.toml::last-ticket.no_race" in out
    # message, hint and the finding at the student's line, without a grader traceback
    assert "two buyers can update ticket.json at the same time" in out
    assert "hint: Every buyer must hold the same multiprocessing.Lock" in out
    assert "ticket.py:29: ticket.json is read at line 24 and written at line 29" in out
    assert "Traceback" not in out and "session.py" not in out
    assert "lock_ticket: " in out and " points (" in out  # the terminal summary line
    assert out.count("points (") == 1  # graded once


def test_k_and_x_select_checks_like_tests() -> None:
    run = pytest_run(LOCK_TICKET, "-k", "last-ticket and not no_race", "-x")
    counts = outcome_counts(run.stdout)
    # last-ticket.stdout_count is the first check and fails: -x stops there
    assert counts.get("failed") == 1 and "passed" not in counts
    # last-ticket has 7 checks, -k leaves 6 of them
    assert counts["deselected"] == N_CHECKS - 6


def test_exercises_are_collected_only_when_asked(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(EXERCISES / "mutex_print", course / "mutex_print")
    (course / "test_plain.py").write_text("def test_plain():\n    pass\n", encoding="utf-8")
    items = ["--collect-only", "-q"]
    plain = pytest_run(course, *items, cwd=tmp_path)
    assert "test_plain.py::test_plain" in plain.stdout and "exercise.toml" not in plain.stdout
    named = pytest_run(course / "mutex_print", *items, cwd=tmp_path)
    asked = pytest_run(
        course, *items, "--ipcgrade-submission", course / "mutex_print", cwd=tmp_path
    )
    for run in (named, asked):
        assert "mutex_print/exercise.toml::" in run.stdout, run.stdout + run.stderr
    broken = course / "broken"
    broken.mkdir()
    (broken / "exercise.toml").write_text('id = "broken"\nbogus = 1\n', encoding="utf-8")
    bad = pytest_run(broken, cwd=tmp_path)
    assert bad.returncode == 2 and "bogus" in bad.stdout and "Traceback" not in bad.stdout


def test_importing_the_plugin_loads_nothing_of_the_grader() -> None:
    code = (
        "import sys, ipcgrader.pytest_plugin; "
        "print(sorted(m for m in sys.modules if m.startswith(('ipcgrader', 'pydantic'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['ipcgrader', 'ipcgrader.pytest_plugin']"


@pytest.mark.slow
def test_xdist_loadgroup_grades_each_exercise_once() -> None:
    pytest.importorskip("xdist")
    run = pytest_run(
        LOCK_TICKET, "--ipcgrade-submission", SOLUTIONS / "lock_ticket", "-n", "2",
        "--dist", "loadgroup",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert outcome_counts(run.stdout) == {"passed": N_CHECKS}
