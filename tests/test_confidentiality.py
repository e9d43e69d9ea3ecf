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
            # a student of a root grader has no capabilities: it may not read the
            # environment of a process that has some, as the grader does (docs/security.md)
            assert seen["grader_environment read"] == ("no" if root else "yes")


def test_batch_at_basic_needs_basic_asked_for_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where basic is all there is, a class is graded only when basic is asked for by name;
    the summary then says what it does not protect."""
    from ipcgrader.cli.batch import cmd_batch

    monkeypatch.setenv(isolation.ENV_VAR, "auto")  # restored after the test
    monkeypatch.setattr(isolation, "chosen_level", lambda: "basic")  # a host without more
    subs, out = tmp_path / "submissions", tmp_path / "out"
    for student in ("ann", "bob"):
        (subs / student).mkdir(parents=True)
        (subs / student / "hostile.py").write_text("print('WORK DONE')\n")
    argv = [str(HOSTILE / "exercise"), "--submissions", str(subs), "--out", str(out)]
    argv += ["--no-plugins", "--progress", "plain"]
    assert cmd_batch(argv) == 2
    err = capsys.readouterr().err
    assert "can read the other students' submissions" in err and "--isolation basic" in err
    assert not (out / "gradebook.sqlite").exists()
    assert cmd_batch([*argv, "--isolation", "basic"]) == 0
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert isolation.basic_warning() in summary


def test_one_grading_at_basic_says_what_it_cannot_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from ipcgrader.cli import main

    monkeypatch.setenv(isolation.ENV_VAR, "basic")
    exercise = HOSTILE / "exercise"
    args = [str(exercise), "--submission", str(exercise / "hostile.py"), "--format", "json"]
    assert main([*args, "--no-plugins"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == "passed"  # the report stays JSON
    assert isolation.basic_warning() in captured.err


def test_doctor_gives_the_isolation_as_data(monkeypatch: pytest.MonkeyPatch) -> None:
    from ipcgrader.cli.doctor import isolation_report

    monkeypatch.delenv(isolation.ENV_VAR, raising=False)
    report = isolation_report()
    assert [level["name"] for level in report["levels"]] == list(isolation.LEVELS)
    assert report["chosen"] == LEVELS[-1] and report["error"] is None
    assert list(report["layers"]) == isolation.layers_of(LEVELS[-1])
    assert report["run_uid"] == isolation.run_uid(LEVELS[-1])
    assert (isolation.basic_warning() in report["warnings"]) == (LEVELS[-1] == "basic")
    monkeypatch.setenv(isolation.ENV_VAR, "nonsense")
    assert isolation_report()["chosen"] is None


def test_links_out_of_a_submission_or_a_run_are_not_followed(tmp_path: Path) -> None:
    """The grader reads as itself: a link a student leaves (in a submission folder, or in
    the run's folder for the checks to read) must not make it copy or read another file."""
    from ipcgrader.session import read_own_file
    from ipcgrader.submission import resolve_submission

    secret = tmp_path / "solution.py"
    secret.write_text(f"print({SECRET!r})\n")
    student = tmp_path / "alice"
    student.mkdir()
    (student / "hostile.py").symlink_to(secret)
    (student / "notes.txt").symlink_to(secret)
    (student / "helper.py").write_text("X = 1\n")
    spec = load_exercise(HOSTILE / "exercise", get_plugin_manager(autoload=False)).spec
    found = resolve_submission(spec, student)
    assert found.missing == ["hostile.py"] and found.extras == [student / "helper.py"]
    run = tmp_path / "work"
    run.mkdir()
    (run / "ticket.json").symlink_to(secret)
    (run / "own.json").write_text("{}")
    assert read_own_file(run, "ticket.json") is None
    assert read_own_file(run, "../solution.py") is None
    assert read_own_file(run, "own.json") == b"{}"
