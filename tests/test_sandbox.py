"""The sandbox's own promises, run by run at every isolation level this host has, and the
pure parts (end reasons, messages, output decoding) on made-up records."""

from __future__ import annotations

import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from ipcgrader import isolation, sandbox, warm
from ipcgrader.cli import main
from ipcgrader.cli.common import limits_from_args
from ipcgrader.cli.grade import grade_parser
from ipcgrader.models import Limits
from ipcgrader.pytest_plugin import marked_processes
from ipcgrader.results import Diagnostic, RunOutcome, RunRecord, StudentError, printable

LEVELS = [level.name for level in isolation.levels() if level.available]
#: Every level, and again forked from a warm interpreter where the level allows it.
MODES = [
    *((level, False) for level in LEVELS),
    *((level, True) for level in LEVELS if warm.level_is_warm(level)),
]
SMALL = Limits(memory_mb=256, processes=20, output_bytes=4096, file_bytes=1 << 20)


def run_code(
    code: str,
    tmp_path: Path,
    level: str,
    timeout: float = 30.0,
    limits: Limits = SMALL,
    warm: bool = False,
) -> RunOutcome:
    """Run a Python snippet as ``main.py`` in a fresh run folder at ``level`` (forked from
    a warm interpreter with ``warm``)."""
    work, meta = tmp_path / "work", tmp_path / "meta"
    work.mkdir(exist_ok=True)
    meta.mkdir(exist_ok=True)
    (work / "main.py").write_text(textwrap.dedent(code), encoding="utf-8")
    argv = [sys.executable, "main.py"]
    request = sandbox.RunRequest(argv, work, timeout_s=timeout, limits=limits)
    if warm:
        with sandbox.warm_runner() as runner:
            outcome = sandbox.run(request, meta, level=level, warm=runner)
        assert outcome.warm
    else:
        outcome = sandbox.run(request, meta, level=level)
    assert marked_processes() == []
    return outcome


@pytest.mark.parametrize(("level", "warm"), MODES)
def test_student_code_has_no_capabilities_and_cannot_raise_limits(
    level: str, warm: bool, tmp_path: Path
) -> None:
    outcome = run_code(
        """
        import resource
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print(status["CapEff"].strip(), status["CapPrm"].strip(), status["NoNewPrivs"].strip())
        try:
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY,) * 2)
            print("raised")
        except (ValueError, OSError):
            print("refused")
        """,
        tmp_path,
        level,
        warm=warm,
    )
    assert outcome.reason is None, outcome.stderr
    assert outcome.stdout.split() == ["0000000000000000", "0000000000000000", "1", "refused"]
    assert outcome.cpu_s is not None and outcome.cpu_s >= 0


@pytest.mark.parametrize(("level", "warm"), MODES)
def test_multiprocessing_works_and_leaves_nothing_running(
    level: str, warm: bool, tmp_path: Path
) -> None:
    """Spawn (with its resource tracker), a Lock (a semaphore in /dev/shm), a Queue, and a
    child that exits just after the main process: a normal end, not "left running"."""
    outcome = run_code(
        """
        import multiprocessing as mp, os, time
        def work(lock, queue):
            with lock:
                queue.put(os.getpid())
        if __name__ == "__main__":
            ctx = mp.get_context("spawn")
            lock, queue = ctx.Lock(), ctx.Queue()
            workers = [ctx.Process(target=work, args=(lock, queue)) for _ in range(3)]
            for w in workers: w.start()
            print(sorted(queue.get(timeout=5) for _ in workers) != [])
            for w in workers: w.join()
            if os.fork() == 0:
                time.sleep(0.05)  # outlives the main process, briefly
                os._exit(0)
            print("WORK DONE")
            os._exit(0)
        """,
        tmp_path,
        level,
        warm=warm,
    )
    assert outcome.reason is None, outcome.stderr
    assert outcome.stdout.split() == ["True", "WORK", "DONE"]
    assert outcome.leftovers == 0


@pytest.mark.parametrize(("level", "warm"), MODES)
def test_loopback_of_its_own(level: str, warm: bool, tmp_path: Path) -> None:
    """A program may talk to itself over 127.0.0.1 at every level."""
    outcome = run_code(
        """
        import socket
        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname(), timeout=2)
        client.sendall(b"ping")
        print(server.accept()[0].recv(4).decode())
        """,
        tmp_path,
        level,
        warm=warm,
    )
    assert outcome.stdout.strip() == "ping", outcome.stderr


SPINNING_GROUP = """
import os, time
if os.fork() == 0:
    os.setsid()  # out of the student's process group: found by its marker
    time.sleep(30)
    os._exit(0)
for _ in range(5):
    os.fork()  # 32 processes in the group, all spinning
end = time.monotonic() + 20
while time.monotonic() < end:
    pass
"""


@pytest.mark.parametrize(("level", "warm"), MODES)
def test_killing_every_run_from_outside(level: str, warm: bool, tmp_path: Path) -> None:
    """kill_active_runs (Ctrl-C) kills the supervisor while 33 busy processes run: the run
    ends at once and nothing is left (outside a namespace: the group, then the marker)."""
    outcomes: list[RunOutcome] = []
    limits = SMALL.model_copy(update={"processes": 100})
    thread = threading.Thread(
        target=lambda: outcomes.append(run_code(SPINNING_GROUP, tmp_path, level, 30, limits, warm))
    )
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(marked_processes()) < 33:
        time.sleep(0.01)
    assert sandbox.kill_active_runs() == 1
    thread.join(10)
    assert outcomes and outcomes[0].reason == "killed"
    assert outcomes[0].wall_s < 30


def test_forced_level_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(isolation.ENV_VAR, "chroot")
    with pytest.raises(isolation.IsolationError, match="choose auto"):
        isolation.chosen_level()
    monkeypatch.setenv(isolation.ENV_VAR, "basic")
    assert isolation.chosen_level() == "basic"
    assert sandbox.isolation_layers() == isolation.layers_of("basic")


def test_auto_level_is_the_strongest_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(isolation.ENV_VAR, raising=False)
    assert isolation.chosen_level() == LEVELS[-1]
    assert set(isolation.layers_of("basic")) < set(isolation.layers_of("namespaces"))
    # the same promises: bubblewrap (audited, widely used) builds the same filesystem
    assert isolation.layers_of("namespaces") == isolation.layers_of("bwrap")
    assert all(layer in isolation.LAYERS for layer in isolation.layers_of("bwrap"))


@pytest.mark.parametrize(
    ("status", "stderr", "reason"),
    [
        ({"returncode": 0}, "", None),
        ({"returncode": 0, "leftovers": 2}, "", "left_running"),
        ({"returncode": 1}, "Traceback ...\nMemoryError\n", "memory"),
        ({"returncode": 1}, "OSError: [Errno 12] Cannot allocate memory\n", "memory"),
        ({"returncode": 1}, "Traceback ...\nOSError: [Errno 27] File too large\n", "file_size"),
        ({"returncode": 1}, "Traceback ...\nValueError: bad\n", "exit"),
        ({"returncode": 0}, "MemoryError\n", None),  # caught and printed: not the end
        ({"signal": signal.SIGXFSZ}, "", "file_size"),
        ({"signal": signal.SIGXCPU}, "", "cpu"),
        ({"signal": signal.SIGSEGV}, "", "signal"),
        ({"stopped": "timeout", "returncode": 0}, "MemoryError\n", "timeout"),
    ],
)
def test_end_reason(status: dict[str, object], stderr: str, reason: str | None) -> None:
    assert sandbox.end_reason(status, stderr) == reason


def _record(outcome: RunOutcome, error: StudentError | None = None) -> RunRecord:
    return RunRecord("ex", "sc", None, 0, {}, outcome, student_error=error, timeout_s=3)


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("timeout", "did not finish within 3 s and was stopped"),
        ("output", "printed more than 4 KiB and was stopped"),
        ("processes", "had more than 20 processes at once"),
        ("killed", "its supervisor was killed"),
        ("memory", "ran out of memory (limit 256 MiB per process)"),
        ("file_size", "larger than the limit (1 MiB)"),
        ("left_running", "exited before its work was done: 1 of its processes was still"),
    ],
)
def test_problem_names_the_limit(reason: str, words: str) -> None:
    stopped = reason if reason in ("timeout", "output", "processes", "killed") else None
    outcome = RunOutcome(1, stopped=stopped, reason=reason, limits=SMALL, leftovers=1)
    if reason == "left_running":
        outcome.returncode = 0
    # the limit is the cause even when the student's traceback is there too
    error = StudentError("exception", "raised MemoryError", "x.py", 3)
    problem = _record(outcome, error if reason == "memory" else None).problem()
    assert problem is not None and words in problem


def test_student_text_is_made_printable() -> None:
    assert printable("a\x1b[2K\rb\nc\u202e") == "a\\x1b[2K\\rb\nc\\u202e"
    error = StudentError("exception", "raised X: \x1b[32m✓ passed" + "!" * 900)
    assert "\x1b" not in error.message and len(error.message) == 500
    assert "\x1b" not in Diagnostic(kind="k", message="\x1b[31m").message


def test_output_keeps_head_and_tail_and_replaces_bad_bytes() -> None:
    assert sandbox.decode_output(b"ok \xff\n", 5) == ("ok \ufffd\n", False)
    text, cut = sandbox.decode_output(b"HEADTAIL", 100)
    assert cut and text.startswith("HEAD\n[... 92 bytes cut") and text.endswith("\nTAIL")


def test_limit_options_override_the_spec() -> None:
    args = grade_parser().parse_args(["ex", "--memory-mb", "64", "--processes", "5"])
    assert limits_from_args(args) == Limits(memory_mb=64, processes=5)
    assert limits_from_args(grade_parser().parse_args(["ex"])) is None
    with pytest.raises(SystemExit):
        grade_parser().parse_args(["ex", "--file-bytes", "0"])


def test_doctor_reports_levels_truthfully(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(isolation.ENV_VAR, "basic")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for level in isolation.levels():
        assert f"{'yes' if level.available else 'no '} {level.name}" in out
    assert "level used for every run: basic (set by IPCGRADER_ISOLATION)" in out
    assert "- subreaper-sweep:" in out and "pid-namespace" not in out
    monkeypatch.setenv(isolation.ENV_VAR, "nonsense")
    assert main(["doctor"]) == 2


def test_doctor_speaks_chinese(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(isolation.ENV_VAR, "basic")
    assert main(["doctor", "--lang", "zh"]) == 0
    out = capsys.readouterr().out
    assert "本机可用的隔离级别" in out and "始终可用" in out
    assert "每次运行使用的级别：basic（由 IPCGRADER_ISOLATION 指定）" in out
    # the layers are data in English (a cluster's workers send them), said in Chinese
    assert "独立的会话和进程组" in out
    for english in ("isolation levels", "always available", "own session", "default limits"):
        assert english not in out


def test_meta_folders_a_killed_grader_left_in_dev_shm_are_removed(tmp_path: Path) -> None:
    """Named by their grader's pid: those of a grader that is gone go, others stay."""
    shm = tmp_path / "shm"
    shm.mkdir()
    dead = shm / f"{sandbox.META_PREFIX}{2**22 + 7}-abc"  # above any pid_max: no process
    alive = shm / f"{sandbox.meta_prefix()}abc"
    other = shm / "ipcgrade-meta-12345678"  # not named by a pid: not ours to judge
    for folder in (dead, alive, other):
        (folder / "meta").mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sandbox, "SHM_DIR", str(shm))
        sandbox._sweep_stale_meta()
    assert not dead.exists() and alive.exists() and other.exists()
