"""The hostile corpus (tests/hostile/): every case gets its expected status at every
isolation level this host has, the grader comes back (a program that ignores SIGTERM or
kills its parent cannot keep it waiting), and no process of the run is left.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ipcgrader import isolation
from ipcgrader.cli import main
from ipcgrader.loader import load_exercise
from ipcgrader.models import Limits
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.pytest_plugin import marked_processes
from ipcgrader.results import ExerciseResult, RunRecord
from ipcgrader.session import Options, grade

HOSTILE = Path(__file__).resolve().parent / "hostile"
EXERCISE = HOSTILE / "exercise"
#: A grader that waited for a hostile process would never come back: this bound only tells
#: such a hang from a slow start on a loaded machine (how fast a stopped run comes back is
#: a speed, measured in bench/, never asserted on this machine's clock).
HANG_MARGIN_S = 30.0
LEVELS = [level.name for level in isolation.levels() if level.available]

Layers = list[str]


@dataclass(frozen=True)
class Case:
    """What one hostile case must get. ``reason`` may depend on the run's layers."""

    reason: str | Callable[[Layers], str | None] | None
    #: words the student-facing problem must contain (None: there must be no problem)
    problem: str | Callable[[Layers], str | None] | None = None
    #: generous: every case but ignore_sigterm ends (or is stopped) long before it, even on
    #: a loaded machine where starting Python and forking take a while
    timeout: float = 10.0
    limits: Limits | None = None

    def expected(self, value: Any, layers: Layers) -> Any:
        return value(layers) if callable(value) else value


def _contained(layers: Layers) -> bool:
    """Is the supervisor the run's PID 1 (so that no process of the run can signal it)?"""
    return "pid-namespace" in layers


CASES: dict[str, Case] = {
    "swarm": Case("processes", "had more than 40 processes at once"),
    "fork_bomb": Case("processes", "had more than 40 processes at once"),
    "big_alloc": Case("memory", "ran out of memory (limit 256 MiB per process)"),
    "memory_creep": Case("memory", "ran out of memory (limit 256 MiB per process)"),
    "output_flood": Case("output", "printed more than 64 KiB and was stopped"),
    "big_file": Case("file_size", "larger than the limit (4 MiB)"),
    "escapee": Case("left_running", "exited before its work was done: 1 of its processes"),
    "ignore_sigterm": Case("timeout", "did not finish within 1 s", timeout=1.0),
    "kill_parent": Case(
        lambda layers: None if _contained(layers) else "killed",
        lambda layers: None if _contained(layers) else "its supervisor was killed",
    ),
    "kill_group": Case("signal", "was killed by SIGKILL"),
    "read_stdin": Case(None),
    "invalid_utf8": Case(None),
    "fake_pass": Case(None),
    "fake_traceback": Case("exit", "raised RuntimeError"),
    "write_outside": Case(None),
    "network": Case(None),
    "recursion_import": Case("exit", "RecursionError: maximum recursion depth exceeded"),
    "crash_signal": Case("signal", "was killed by SIGABRT"),
    "cpu_burn": Case("cpu", "used more than 1 s of CPU time", limits=Limits(cpu_s=1)),
}


#: The escapee's name, made ours: other test sessions on this machine may have their own.
ESCAPEE = f"ipcgrader-hostile-escapee-{os.getpid()}"


def leftovers() -> list[int]:
    """Processes of our graded runs: marked ones, and the escapee (which drops the marker)."""
    found = set(marked_processes())
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read().split(b"\0")[0] == ESCAPEE.encode():
                        found.add(int(entry))
            except OSError:
                continue
    return sorted(found)


@pytest.fixture(autouse=True)
def kill_what_escaped() -> Iterator[None]:
    """Should a case escape after all, kill its processes (ours only, by pid) so that the
    failure cannot load the machine, and fail the test."""
    yield
    found = leftovers()
    for _ in range(100):
        alive = leftovers()
        if not alive:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in alive:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
        time.sleep(0.01)
    if found:
        pytest.fail(f"processes of a hostile run were left and have been killed: {found}")


@pytest.fixture(params=LEVELS)
def level(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each isolation level this host supports, forced for the runs of one test."""
    monkeypatch.setenv(isolation.ENV_VAR, request.param)
    return str(request.param)


def grade_case(
    name: str, folder: Path, case: Case, replace: dict[str, str] | None = None
) -> tuple[ExerciseResult, RunRecord]:
    """Grade ``cases/<name>.py`` (with ``replace`` applied to its text); one run."""
    source = (HOSTILE / "cases" / f"{name}.py").read_text(encoding="utf-8")
    source = source.replace('"ipcgrader-hostile-escapee"', repr(ESCAPEE))
    for old, new in (replace or {}).items():
        source = source.replace(old, new)
    submission = folder / "hostile.py"
    submission.write_text(source, encoding="utf-8")
    pm = get_plugin_manager(autoload=False)
    records: list[RunRecord] = []
    options = Options(timeout=case.timeout, limits=case.limits)
    result = grade(load_exercise(EXERCISE, pm), submission, pm, options, records.append)
    assert len(records) == 1
    return result, records[0]


def check_case(name: str, result: ExerciseResult, record: RunRecord) -> None:
    """The assertions every case shares."""
    case = CASES[name]
    outcome = record.outcome
    layers = outcome.isolation
    assert outcome.wall_s <= case.timeout + HANG_MARGIN_S, f"the grader took {outcome.wall_s:.2f} s"
    assert outcome.reason == case.expected(case.reason, layers), record.problem()
    problem = case.expected(case.problem, layers)
    if problem is None:
        assert record.problem() is None
    else:
        assert problem in (record.problem() or ""), record.problem()
    if outcome.reason is not None:
        assert result.status.value == "failed"
        assert all(c.message for c in result.checks if c.status.value == "failed")
    assert leftovers() == []


@pytest.mark.parametrize("name", sorted(set(CASES) - {"network"}))
def test_hostile_case(name: str, level: str, tmp_path: Path) -> None:
    result, record = grade_case(name, tmp_path, CASES[name])
    if name == "cpu_burn" and record.outcome.reason == "timeout":
        # The wall timeout came first. Only a machine too loaded to give the program its
        # one CPU second in time (or to let the supervisor report it) excuses that; a
        # missing CPU limit does not.
        used = record.outcome.cpu_s
        assert used is None or used < 1.0, f"{used} s of CPU and no SIGXCPU"
        pytest.skip(f"inconclusive: the machine gave the program {used} CPU s in 10 s")
    check_case(name, result, record)
    assert record.outcome.isolation == isolation.layers_of(level)
    CHECKS.get(name, lambda *_: None)(result, record)


@pytest.fixture
def listeners() -> Iterator[tuple[socket.socket, socket.socket, str]]:
    """A TCP listener on 127.0.0.1 and an abstract unix one, owned by this test."""
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    name = f"ipcgrader-hostile-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        tcp.bind(("127.0.0.1", 0))
        unix.bind("\0" + name)
        for sock in (tcp, unix):
            sock.listen(4)
            sock.setblocking(False)
        yield tcp, unix, name
    finally:
        tcp.close()
        unix.close()


def _accepted(sock: socket.socket) -> bool:
    try:
        connection, _ = sock.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def test_network_attempt(level: str, tmp_path: Path, listeners: Any) -> None:
    tcp, unix, name = listeners
    port = str(tcp.getsockname()[1])
    replace = {"PORT = 0": f"PORT = {port}", 'NAME = "ipcgrader-hostile"': f'NAME = "{name}"'}
    result, record = grade_case("network", tmp_path, CASES["network"], replace)
    check_case("network", result, record)
    isolated = "network-namespace" in record.outcome.isolation
    assert _accepted(tcp) is not isolated
    assert _accepted(unix) is not isolated
    word = "blocked" if isolated else "connected"
    assert f"tcp: {word}" in record.outcome.stdout
    assert f"unix: {word}" in record.outcome.stdout


def _no_control_characters(result: ExerciseResult) -> None:
    texts = [c.message for c in result.checks] + [d.message for d in result.diagnostics]
    for text in texts:
        assert "\x1b" not in text and "\r" not in text and "\u202e" not in text, text


def _output_flood(result: ExerciseResult, record: RunRecord) -> None:
    stdout = record.outcome.stdout
    assert record.outcome.stdout_truncated
    assert stdout.startswith("FIRST LINE\n")  # the head is kept ...
    assert "bytes cut by ipcgrader" in stdout
    # ... and so is the tail: the flood, or its last line when the program got to finish
    # writing before the supervisor's next look (it does on a quiet machine)
    assert set(stdout.removesuffix("WORK DONE\n")[-40:]) <= set("flod ")
    assert len(stdout.encode()) < 2 * 65536


def _invalid_utf8(result: ExerciseResult, record: RunRecord) -> None:
    assert "\ufffd" in record.outcome.stdout and "\ufffd" in record.outcome.stderr
    assert result.status.value == "passed"


def _passes(result: ExerciseResult, record: RunRecord) -> None:
    assert result.status.value == "passed", [c.message for c in result.checks]


def _read_stdin(result: ExerciseResult, record: RunRecord) -> None:
    assert "stdin had 0 characters, input() gave None" in record.outcome.stdout
    _passes(result, record)


def _fake_pass(result: ExerciseResult, record: RunRecord) -> None:
    by_name = {c.name: c for c in result.checks}
    assert by_name["python hostile.py: does its work"].status.value == "failed"
    assert result.status.value == "failed" and result.score < result.max_score
    _no_control_characters(result)


def _fake_traceback(result: ExerciseResult, record: RunRecord) -> None:
    _no_control_characters(result)
    assert "hostile.py, line 2" in (record.problem() or "")


def _write_outside(result: ExerciseResult, record: RunRecord) -> None:
    layers = record.outcome.isolation
    if "own-filesystem" not in layers:
        assert "outside: written" in record.outcome.stdout
    elif "unprivileged-uid" in layers:  # next to its folder is a folder it does not own
        assert "outside: refused" in record.outcome.stdout
    # (else root of a user namespace writes to its own private /tmp: nothing of the host's)
    _passes(result, record)


def _escapee(result: ExerciseResult, record: RunRecord) -> None:
    assert record.outcome.leftovers >= 1


def _kill_parent(result: ExerciseResult, record: RunRecord) -> None:
    if _contained(record.outcome.isolation):
        _passes(result, record)


CHECKS: dict[str, Callable[[ExerciseResult, RunRecord], None]] = {
    "output_flood": _output_flood,
    "invalid_utf8": _invalid_utf8,
    "read_stdin": _read_stdin,
    "fake_pass": _fake_pass,
    "fake_traceback": _fake_traceback,
    "write_outside": _write_outside,
    "escapee": _escapee,
    "kill_parent": _kill_parent,
}


@pytest.mark.parametrize("name", ["fake_pass", "fake_traceback"])
def test_printed_text_is_never_the_graders_result(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The grader's stdout is its own report only: one JSON object saying "failed", and a
    terminal report without the student's escape sequences."""
    submission = tmp_path / "hostile.py"
    submission.write_text((HOSTILE / "cases" / f"{name}.py").read_text(encoding="utf-8"))
    common = [str(EXERCISE), "--submission", str(submission), "--no-plugins"]
    assert main([*common, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "failed" and report["score"] < report["max_score"]
    assert main([*common, "--no-color"]) == 1
    terminal = capsys.readouterr().out
    assert "\x1b" not in terminal and "\u202e" not in terminal
    assert "FAILED" in terminal.splitlines()[-1]
    assert leftovers() == []


#: Well-behaved students of the hostile exercise, with the score each must get (of 3).
NORMAL = {
    "good_workers": (
        "import multiprocessing as mp\n"
        "def work(lock, n):\n"
        "    with lock:\n"
        "        print('worker', n, flush=True)\n"
        "if __name__ == '__main__':\n"
        "    lock = mp.Lock()\n"
        "    workers = [mp.Process(target=work, args=(lock, n)) for n in range(4)]\n"
        "    for w in workers: w.start()\n"
        "    for w in workers: w.join()\n"
        "    print('WORK DONE')\n",
        3.0,
    ),
    "good_plain": ("print('WORK DONE')\n", 3.0),
    "forgets_to_say": ("print('work done, I think')\n", 2.0),
    "exits_badly": ("print('WORK DONE')\nraise SystemExit(4)\n", 1.0),  # only "finishes"
}
BATCH_HOSTILE = ["swarm", "fork_bomb", "memory_creep", "output_flood", "big_file", "escapee",
                 "ignore_sigterm", "kill_parent", "kill_group", "fake_pass", "crash_signal",
                 "recursion_import"]  # fmt: skip


def test_batch_under_fire(tmp_path: Path) -> None:
    """A class where most students attack the grader: every normal submission still gets
    exactly its score, every hostile one a recorded status, and nothing is left running."""
    from ipcgrader.batch.gradebook import Gradebook
    from ipcgrader.cli.batch import cmd_batch

    subs, out = tmp_path / "submissions", tmp_path / "out"
    for student, (source, _) in NORMAL.items():
        (subs / student).mkdir(parents=True)
        (subs / student / "hostile.py").write_text(source, encoding="utf-8")
    for case in BATCH_HOSTILE:
        (subs / case).mkdir(parents=True)
        text = (HOSTILE / "cases" / f"{case}.py").read_text(encoding="utf-8")
        text = text.replace('"ipcgrader-hostile-escapee"', repr(ESCAPEE))
        (subs / case / "hostile.py").write_text(text, encoding="utf-8")
    printed = io.StringIO()
    argv = [str(EXERCISE), "--submissions", str(subs), "--out", str(out), "-j", "2"]
    with contextlib.redirect_stdout(printed):
        code = cmd_batch([*argv, "--timeout", "4", "--no-plugins"], stream=printed)
    assert code == 1, printed.getvalue()  # graded, some below full marks
    with Gradebook(out / "gradebook.sqlite") as book:
        found = {row.student: row.result for row in book.gradings()}
    assert sorted(found) == sorted([*NORMAL, *BATCH_HOSTILE])
    for student, (_, score) in NORMAL.items():
        assert found[student].score == score, (student, found[student])
    for student in BATCH_HOSTILE:
        status = found[student].status.value
        assert status in ("passed", "failed"), (student, found[student])
        result = json.loads((out / "results" / student / "hostile.json").read_text())
        assert result["status"] == status
        if student != "kill_parent":  # a normal end where the supervisor is PID 1
            assert result["status"] == "failed"
            assert any(c["status"] == "failed" and c["message"] for c in result["checks"])
    assert leftovers() == []
