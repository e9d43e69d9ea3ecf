"""A submission sees nothing but its own run (issue 15): at each isolation level this host
has, ``hostile/cases/read_others.py`` tries to read and to write another submission of the
batch, the exercise's solution and an undeclared file, the gradebook, /etc/shadow, the
grader's home and environment, and this asserts exactly what that level promises: denied
where it has a filesystem of its own, and at ``basic`` the gaps its documentation names.
Each level's grading (a plain run and a driven one) is made once for all its tests.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from ipcgrader import isolation, sandbox
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import RunRecord
from ipcgrader.session import Options, grade

HOSTILE = Path(__file__).resolve().parent / "hostile"
LEVELS = [level.name for level in isolation.levels() if level.available]
SECRET = f"ipcgrader-secret-{os.getpid()}"
#: The second scenario: the reader runs as a module driven by an exercise-owned driver,
#: whose folder the run may read (and nothing else of the exercise's).
DRIVEN = """
[[scenarios]]
id = "driven"
name = "driven by drivers/noop.py"
driver = "drivers/noop.py"

  [[scenarios.expect]]
  kind = "stdout_count"
  name = "does its work when driven"
  pattern = "^WORK DONE$"
  expected = 1
  message = "the program did not say WORK DONE"
"""
#: What a reader must be denied at a level with a filesystem of its own.
PRIVATE = ["other_submission", "solution", "undeclared", "gradebook", "shadow", "home"]


@dataclass(frozen=True)
class Staged:
    """The files the reader goes after, and its source with their paths filled in."""

    folder: Path
    exercise: Path
    source: str
    grader_environment: str


def _grader_environment_entry() -> str:
    """The longest entry of this process's environment that no run's environment has (the
    reader looks for it in every /proc/*/environ it can open); "" if there is none."""
    with open("/proc/self/environ", "rb") as handle:
        entries = handle.read().decode("utf-8", "replace").split("\0")
    scrubbed = set(sandbox.base_environment(Path("/nonexistent")))
    eligible = [
        entry
        for entry in entries
        if "=" in entry
        and entry.partition("=")[0] not in scrubbed
        and not entry.startswith("IPCGRADER")
    ]
    return max(eligible, key=len, default="")


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> Staged:
    folder = tmp_path_factory.mktemp("confidentiality")
    exercise = folder / "exercise"
    shutil.copytree(HOSTILE / "exercise", exercise)
    with open(exercise / "exercise.toml", "a", encoding="utf-8") as spec:
        spec.write(DRIVEN)
    (exercise / "drivers").mkdir()
    (exercise / "drivers" / "noop.py").write_text("def drive(student):\n    pass\n")
    (exercise / "solution.py").write_text(f"print({SECRET!r})\n")
    (exercise / "hidden_data.txt").write_text(SECRET)
    other = folder / "submissions" / "bob" / "hostile.py"
    other.parent.mkdir(parents=True)
    other.write_text(f"# {SECRET}\nprint('WORK DONE')\n")
    gradebook = folder / "grades" / "gradebook.sqlite"
    gradebook.parent.mkdir()
    gradebook.write_text(SECRET)
    home = folder / "home"
    home.mkdir()
    (home / "notes.txt").write_text(SECRET)
    targets = {
        "other_submission": str(other),
        "solution": str(exercise / "solution.py"),
        "undeclared": str(exercise / "hidden_data.txt"),
        "driver": str(exercise / "drivers" / "noop.py"),
        "gradebook": str(gradebook),
        "shadow": "/etc/shadow",
        "home": str(home / "notes.txt"),
    }
    environ = _grader_environment_entry()
    source = (HOSTILE / "cases" / "read_others.py").read_text(encoding="utf-8")
    for old, new in {
        "TARGETS: dict[str, str] = {}": f"TARGETS: dict[str, str] = {targets!r}",
        'SECRET = "ipcgrader-secret"': f"SECRET = {environ or SECRET!r}",
        'RUNS = ""': f"RUNS = {os.path.join(tempfile.gettempdir(), 'ipcgrade-*')!r}",
        'HOME = ""': f"HOME = {os.path.expanduser('~')!r}",
    }.items():
        assert old in source
        source = source.replace(old, new)
    return Staged(folder, exercise, source, environ)


_GRADED: dict[str, list[RunRecord]] = {}


def attempts(level: str, staged: Staged) -> list[dict[str, str]]:
    """What the reader found at ``level``, per run (the driven one first): ``name read``
    -> ``yes``/``no``, ..."""
    if level not in _GRADED:
        submission = staged.folder / f"reader-{level}" / "hostile.py"
        submission.parent.mkdir()
        submission.write_text(staged.source, encoding="utf-8")
        pm = get_plugin_manager(autoload=False)
        records: list[RunRecord] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(isolation.ENV_VAR, level)
            patch.setenv("IPCGRADER_TEST_SECRET", SECRET)  # the run's own must not have it
            result = grade(
                load_exercise(staged.exercise, pm),
                submission,
                pm,
                Options(timeout=20.0),
                records.append,
            )
        assert result.status.value == "passed", [c.message for c in result.checks]
        _GRADED[level] = sorted(records, key=lambda r: r.scenario_id)
    found = []
    for record in _GRADED[level]:
        assert record.outcome.isolation == isolation.layers_of(level)
        lines = record.outcome.stdout.splitlines()
        found.append(dict(line.split(": ", 1) for line in lines if ": " in line))
    return found


@pytest.mark.parametrize("level", [x for x in LEVELS if x != "basic"])
def test_nothing_but_its_own_run_is_readable_or_writable(level: str, staged: Staged) -> None:
    for seen in attempts(level, staged):
        for name in PRIVATE:
            assert seen[f"{name} read"] == "no", (name, seen)
            assert seen[f"{name} write"] == "no", (name, seen)
        assert seen["environment read"] == "no"
        assert seen["grader_environment read"] == "no"
        assert seen["other_runs read"] == "no"
        assert seen["driver write"] == "no"
    driven, plain = attempts(level, staged)
    # the driver's folder is the exercise's only part a run sees, and only a driven run
    assert driven["driver read"] == "yes" and plain["driver read"] == "no"


@pytest.mark.parametrize("level", [x for x in LEVELS if x != "basic"])
def test_of_the_graders_home_only_the_runtime_shows(level: str, staged: Staged) -> None:
    """A venv's interpreter may live in the grader's home (pyenv): that folder is shown,
    nothing else of the home."""
    home = Path(os.path.expanduser("~"))
    view = isolation.view_of([], [], 1 << 20)
    on_the_way = {
        Path(m[1]).relative_to(home).parts[0]
        for m in view
        if m[0] in ("ro", "dir") and Path(m[1]).is_relative_to(home) and Path(m[1]) != home
    }
    for seen in attempts(level, staged):
        assert set(seen["home"].split()) <= on_the_way


@pytest.mark.parametrize("level", LEVELS)
def test_student_code_never_runs_as_root(level: str, staged: Staged) -> None:
    for seen in attempts(level, staged):
        uid, euid = map(int, seen["uid"].split())
        if level != "basic" or os.geteuid() != 0:
            assert uid != 0 and euid != 0
        if os.geteuid() == 0 and level != "basic":
            assert uid == euid == isolation.RUN_UID


@pytest.mark.skipif("basic" not in LEVELS, reason="no basic level")
def test_basic_level_protects_only_what_it_says(staged: Staged) -> None:
    """The basic level promises a scrubbed environment, nothing about files: a submission
    reads and writes whatever the grader's user can (docs/security.md says so)."""
    for seen in attempts("basic", staged):
        assert seen["environment read"] == "no"
        for name in ["other_submission", "solution", "undeclared", "gradebook", "home"]:
            assert seen[f"{name} read"] == "yes", name
            assert seen[f"{name} write"] == "yes", name
        root = os.geteuid() == 0
        assert seen["shadow read"] == ("yes" if root else "no")
        if staged.grader_environment:
            assert seen["grader_environment read"] == "yes"
