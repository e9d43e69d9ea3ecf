"""``ipcgrade batch`` for real: a small class with good, broken, hanging and zipped
submissions; reruns that skip what is current; Ctrl-C and kill -9 half-way, then resume.

Interrupts are deterministic: one student's program blocks on a file lock the test holds,
so its grading cannot finish before the test interrupts the batch; the test waits on the
gradebook's row count, never on a sleep.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ipcgrader.cli.batch import cmd_batch
from ipcgrader.pytest_plugin import marked_processes

from conftest import EXERCISES, SCHEMAS, SOLUTIONS, SUBMISSIONS

SOLUTION = (SOLUTIONS / "lock_ticket" / "ticket.py").read_bytes()
VARIANTS = SUBMISSIONS / "lock_ticket"


def _student(root: Path, name: str, source: bytes, sub: str = "") -> None:
    folder = root / name / sub
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ticket.py").write_bytes(source)


def _variant(name: str) -> bytes:
    return (VARIANTS / f"{name}.py").read_bytes()


def snapshot(root: Path) -> str:
    """A private copy of lock_ticket: reruns compare exercise hashes, and the tests must not
    see edits made to exercises/ while they run."""
    copy = root / "lock_ticket"
    shutil.copytree(EXERCISES / "lock_ticket", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return str(copy)


def batch(exercise: str, *args: str) -> tuple[int, str]:
    """Run ``ipcgrade batch`` in this process; return the exit code and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cmd_batch([exercise, *args], stream=out)
    return code, out.getvalue()


def rows(db: Path) -> dict[str, tuple[str, float, str]]:
    """student -> (status, score, graded_at) of the gradebook at ``db``."""
    if not db.exists():
        return {}
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        try:
            found = conn.execute("SELECT student, status, score, graded_at FROM gradings")
        except sqlite3.OperationalError:  # the batch created the file, not yet the tables
            return {}
        found = found.fetchall()
    return {student: (status, score, at) for student, status, score, at in found}


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Seven students graded once with -j 2; tests below read what it produced."""
    root = tmp_path_factory.mktemp("class")
    subs = root / "submissions"
    _student(subs, "ok_folder", _variant("correct_with_lock"))
    _student(subs, "ok_nested", SOLUTION, sub="lock_ticket")  # <exercise id>/ticket.py
    with zipfile.ZipFile(subs / "ok_zipped.zip", "w") as zf:
        zf.writestr("Some Student/ticket.py", SOLUTION)  # wrapper folder, as LMSs make
    (subs / "broken_zip.zip").write_bytes(b"PK\x03\x04 not really")
    for name in ("syntax_error", "missing_task", "infinite_loop"):
        _student(subs, name, _variant(name))
    step_summary = root / "step_summary.md"
    out = root / "out"
    exercise = snapshot(root)
    with mock.patch.dict(os.environ, {"GITHUB_STEP_SUMMARY": str(step_summary)}):
        # the exercise's own timeouts: the spinning student is stopped by its CPU budget
        code, printed = batch(exercise, "--submissions", str(subs), "--out", str(out), "-j", "2")
    return {"code": code, "printed": printed, "out": out, "subs": subs, "step": step_summary,
            "exercise": exercise}  # fmt: skip


def test_every_submission_gets_a_result(graded_class: dict[str, Any]) -> None:
    printed = graded_class["printed"]
    assert graded_class["code"] == 1, printed  # some below full marks
    assert re.search(r"done: 7 graded, 0 unchanged, 0 left", printed), printed
    found = rows(graded_class["out"] / "gradebook.sqlite")
    assert sorted(found) == sorted(
        ["ok_folder", "ok_nested", "ok_zipped", "broken_zip", "syntax_error", "missing_task",
         "infinite_loop"]
    )  # fmt: skip
    statuses = {student: status for student, (status, _, _) in found.items()}
    for student in ("ok_folder", "ok_nested", "ok_zipped"):
        assert statuses[student] == "passed", _failures(graded_class["out"], student)
    for student in ("broken_zip", "syntax_error", "missing_task", "infinite_loop"):
        assert statuses[student] == "failed", student
    assert found["broken_zip"][1] == found["syntax_error"][1] == 0


def _failures(out: Path, student: str) -> str:
    data = json.loads((out / "results" / student / "lock_ticket.json").read_text())
    return f"{student}: " + "; ".join(
        f"{c['id']}: {c['message']}" for c in data["checks"] if c["status"] != "passed"
    )


def test_per_submission_json_explains_each_failure(graded_class: dict[str, Any]) -> None:
    results = graded_class["out"] / "results"

    def load(student: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((results / student / "lock_ticket.json").read_text())
        return data

    assert load("ok_zipped")["submission"].endswith("ok_zipped.zip")  # not a temp folder
    assert "bad_archive" in {d["kind"] for d in load("broken_zip")["diagnostics"]}
    assert "syntax_error" in {d["kind"] for d in load("syntax_error")["diagnostics"]}
    assert "missing_function" in {d["kind"] for d in load("missing_task")["diagnostics"]}
    loop = {c["id"]: c for c in load("infinite_loop")["checks"]}
    assert loop["last-ticket.finishes"]["status"] == "failed"
    for student in ("ok_folder", "infinite_loop"):
        data = load(student)
        assert set(data) >= {"exercise", "submission", "status", "score", "max_score",
                             "duration_s", "checks", "diagnostics"}  # fmt: skip


def test_exports_are_complete_and_valid(graded_class: dict[str, Any]) -> None:
    out: Path = graded_class["out"]
    raw = (out / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel shows 张三 right
    csv_lines = raw.decode("utf-8-sig").splitlines()
    # one feedback file a student can keep per grading, beside its JSON
    results = out / "results"
    assert len(list(results.rglob("*.md"))) == len(list(results.rglob("*.json")))
    assert csv_lines[0] == "student,lock_ticket,total" and len(csv_lines) == 8
    full = rows(out / "gradebook.sqlite")["ok_folder"][1]  # full marks, whatever the spec says
    assert f"ok_folder,{full:g},{full:g}" in csv_lines and full > 0
    import xml.etree.ElementTree as ET

    import xmlschema

    xmlschema.XMLSchema(SCHEMAS / "junit-10.xsd").validate(out / "junit.xml")
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == 7 and all(s.findall("testcase") for s in suites)
    summary = (out / "summary.md").read_text()
    assert "**7 students**, 7 gradings: 3 with full marks, 4 below" in summary
    assert "most common mistake first" in summary and "Slowest submissions" in summary
    assert graded_class["step"].read_text() == summary


def test_an_unchanged_rerun_grades_nothing(graded_class: dict[str, Any]) -> None:
    db = graded_class["out"] / "gradebook.sqlite"
    before = rows(db)
    code, printed = batch(graded_class["exercise"], "--submissions", str(graded_class["subs"]),
                          "--out", str(graded_class["out"]))  # fmt: skip
    assert code == 1
    assert "0 graded, 7 unchanged" in printed
    assert rows(db) == before  # same rows, same timestamps


def test_only_changed_submissions_options_or_force_regrade(tmp_path: Path) -> None:
    subs, out = tmp_path / "subs", tmp_path / "out"
    _student(subs, "s1", _variant("syntax_error"))
    _student(subs, "s2", _variant("syntax_error"))
    common = (snapshot(tmp_path), "--submissions", str(subs), "--out", str(out))
    assert "2 graded, 0 unchanged" in batch(*common)[1]
    assert "0 graded, 2 unchanged" in batch(*common)[1]
    (subs / "s2" / "ticket.py").write_bytes(_variant("syntax_error") + b"\n(\n")
    assert "1 graded, 1 unchanged" in batch(*common)[1]
    assert "2 graded, 0 unchanged" in batch(*common, "--force")[1]
    assert "2 graded, 0 unchanged" in batch(*common, "--timeout", "7")[1]  # other verdicts


def test_an_output_folder_inside_the_submissions_is_not_a_student(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    _student(subs, "s1", _variant("syntax_error"))
    common = (snapshot(tmp_path), "--submissions", str(subs), "--out", str(subs / "grades"))
    assert "done: 1 graded, 0 unchanged" in batch(*common)[1]
    code, printed = batch(*common)
    assert "done: 0 graded, 1 unchanged" in printed and "grades" not in printed.split("done")[0]
    assert code == 1


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    exercise = str(EXERCISES / "lock_ticket")
    assert batch(exercise, "--submissions", str(empty), "--out", str(tmp_path / "o"))[0] == 2
    assert batch(exercise, "--submissions", str(tmp_path / "nope"))[0] == 2
    _student(tmp_path / "subs", "s1", b"")
    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".ipcgrade.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another batch is writing this folder
        assert batch(exercise, "--submissions", str(tmp_path / "subs"), "--out", str(out))[0] == 2
    assert "in use by another ipcgrade batch" in capsys.readouterr().err


# --- interrupted batches -------------------------------------------------------------------


#: The wall timeout of the interrupted batches: it must not end the gated run before the test
#: stops the batch (that grading would be recorded, failed). A bound, never waited for: the
#: gate opens or the batch is stopped.
GATED_TIMEOUT = "600"


@contextlib.contextmanager
def gated_class(root: Path, exercise: str) -> Iterator[tuple[Path, Any]]:
    """Two quick students and one whose program waits for a lock the test holds; yields the
    submissions folder and the held lock file (close it to let the program go on).

    The lock is in the exercise's drivers/ folder: the only place outside its own folder that
    a run (a driven one) may see where it has a filesystem of its own. Only one run of the
    gated program waits at a time (the one that holds ``token.lock``): a waiting run holds
    one of the batch's run slots (two at ``-j 1``), and if every slot were held by a waiting
    run, the quick students could not be graded until the wall timeout had ended the waits,
    recording the gated student first."""
    gate = Path(exercise) / "drivers" / "gate.lock"
    token = Path(exercise) / "drivers" / "token.lock"
    token.touch()
    held = open(gate, "w")  # noqa: SIM115 - closed by the test or below
    fcntl.flock(held, fcntl.LOCK_EX)
    subs = root / "subs"
    _student(subs, "a_ok", SOLUTION)
    _student(subs, "b_syntax", _variant("syntax_error"))
    wait_for_gate = (
        "import fcntl, multiprocessing, os\n"
        "try:\n"
        f"    _token = os.open({str(token)!r}, os.O_RDONLY)\n"
        f"    _gate = os.open({str(gate)!r}, os.O_RDONLY)\n"
        "except OSError:\n"
        "    _token = -1  # a run not driven from drivers/ cannot see them: it goes on\n"
        "if _token >= 0 and multiprocessing.parent_process() is None:  # not in a child\n"
        "    try:  # the token is kept until this process ends: one waiting run at a time\n"
        "        fcntl.flock(_token, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "        fcntl.flock(_gate, fcntl.LOCK_SH)\n"
        "    except BlockingIOError:\n"
        "        pass  # another run of this program is the one waiting\n"
        "    os.close(_gate)\n"
    )
    _student(subs, "z_gated", wait_for_gate.encode() + SOLUTION)
    try:
        yield subs, held
    finally:
        held.close()


def _start(exercise: str, subs: Path, out: Path, tmp: Path) -> subprocess.Popen[bytes]:
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp)}  # temp folders of killed runs die with tmp_path
    argv = [sys.executable, "-m", "ipcgrader", "batch", exercise, "--submissions", str(subs),
            "--out", str(out), "-j", "1", "--timeout", GATED_TIMEOUT]  # fmt: skip
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=_interruptible
    )


def _interruptible() -> None:
    """Ctrl-C reaches the batch as at a terminal: a test run started in the background (``&``
    in a script, some CI runners) has SIGINT ignored, the batch would inherit that, and its
    Python would then never raise KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_rows(proc: subprocess.Popen[bytes], db: Path, count: int) -> None:
    deadline = time.monotonic() + 120  # a bound against hanging forever, not a timing test
    while len(rows(db)) < count:
        assert proc.poll() is None, f"the batch ended early: {proc.communicate()[0]!r}"
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["ctrl-c", "kill -9"])
def test_a_batch_stopped_half_way_resumes_without_regrading(tmp_path: Path, how: str) -> None:
    out = tmp_path / "out"
    db = out / "gradebook.sqlite"
    exercise = snapshot(tmp_path)
    with gated_class(tmp_path, exercise) as (subs, held):
        proc = _start(exercise, subs, out, tmp_path / "tmp")
        try:
            _wait_for_rows(proc, db, 2)
            proc.send_signal(signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
            printed = proc.communicate(timeout=60)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        done = rows(db)
        assert sorted(done) == ["a_ok", "b_syntax"], "z_gated cannot finish before the stop"
        if how == "ctrl-c":
            assert proc.returncode == 130, printed
            assert "interrupted: 2 graded" in printed
            assert not marked_processes(), "Ctrl-C must kill every run in progress"
            assert "_Interrupted: 2 of 3" in (out / "summary.md").read_text()
        held.close()  # the gated program may go on now
        if how == "kill -9":
            _wait_until_no_run_is_left()
        # the same options (the timeout is part of the exercise's fingerprint)
        code, printed = batch(exercise, "--submissions", str(subs), "--out", str(out), "-j", "1",
                              "--timeout", GATED_TIMEOUT)  # fmt: skip
    assert "1 graded, 2 unchanged, 0 left" in printed
    assert code == 1  # b_syntax is below full marks
    after = rows(db)
    assert after["z_gated"][0] == "passed"
    assert {s: after[s] for s in done} == done  # not graded again: same timestamps
    shutil.rmtree(tmp_path / "tmp", ignore_errors=True)


def _wait_until_no_run_is_left() -> None:
    # kill -9 gives the batch no chance to clean up: its runs end by themselves (the gate is
    # open, so the program finishes; at worst the supervisor's timeout ends it)
    deadline = time.monotonic() + 60
    while marked_processes():
        assert time.monotonic() < deadline, f"runs left behind: {marked_processes()}"
        time.sleep(0.05)
