"""``ipcgrade batch --scheduler``: gradings made on a real Dask cluster on 127.0.0.1.

Each cluster test starts a ``dask scheduler`` and two ``dask worker`` processes (free ports
chosen by the scheduler, no dashboard, every folder under the test's tmp_path), each in a
process group of its own that the teardown kills and waits for. Without Dask's distributed
package the cluster tests are skipped; the shipping and the refusals are tested anyway.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ipcgrader import __version__, i18n
from ipcgrader.batch.cluster import check_workers, describe_worker
from ipcgrader.batch.executors import Graded, RunGate, grade_job
from ipcgrader.batch.gradebook import Gradebook
from ipcgrader.batch.inputs import discover, unpack
from ipcgrader.batch.planning import Job, plan, setup_exercise
from ipcgrader.batch.progress import PlainProgress
from ipcgrader.batch.runner import run_batch
from ipcgrader.batch.shipping import WorkerMismatch, grade_shipped, ship_exercise, ship_job
from ipcgrader.cli import main
from ipcgrader.cli.batch import cmd_batch
from ipcgrader.cli.doctor import isolation_report
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.pytest_plugin import marked_processes
from ipcgrader.session import Options
from ipcgrader.warm import SOCKET_ENV, level_is_warm

from conftest import EXERCISES, SOLUTIONS, SUBMISSIONS

SOLUTION = (SOLUTIONS / "lock_ticket" / "ticket.py").read_bytes()
VARIANTS = SUBMISSIONS / "lock_ticket"


def _variant(name: str) -> bytes:
    return (VARIANTS / f"{name}.py").read_bytes()


def _student(root: Path, name: str, source: bytes, sub: str = "") -> None:
    folder = root / name / sub
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ticket.py").write_bytes(source)


def batch(*args: str) -> tuple[int, str]:
    """``ipcgrade batch`` in this process: exit code and what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cmd_batch([str(EXERCISES / "lock_ticket"), *args, "--progress", "plain"], out)
    return code, out.getvalue()


def gradebook_rows(db: Path) -> dict[str, Any]:
    """student -> (status, score, max score, [(check, status, score)]): what must not depend
    on where a grading was made."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        gradings = conn.execute("SELECT student, status, score, max_score FROM gradings")
        found: dict[str, Any] = {s: (st, sc, mx, []) for s, st, sc, mx in gradings}
        checks = conn.execute(
            "SELECT student, check_id, status, score FROM checks ORDER BY student, position"
        )
        for student, check, status, score in checks:
            found[student][3].append((check, status, score))
    return found


# --- without a cluster: shipping, refusals, no Dask ----------------------------------------


def _jobs(tmp_path: Path) -> list[Job]:
    subs = tmp_path / "subs"
    _student(subs, "nested", _variant("syntax_error"), sub="lock_ticket")
    _student(subs, "missing", b"")
    (subs / "missing" / "ticket.py").unlink()
    (subs / "missing" / "notes.txt").write_text("no ticket.py here")
    with zipfile.ZipFile(subs / "zipped.zip", "w") as zf:
        zf.writestr("Some Student/ticket.py", _variant("syntax_error"))
    pm = get_plugin_manager(autoload=False)
    setup = setup_exercise(load_exercise(EXERCISES / "lock_ticket", pm), pm, Options())
    students, _ = discover(subs)
    return plan([setup], unpack(students, tmp_path / "work", {setup.id}))


def test_a_shipped_grading_is_the_local_grading(tmp_path: Path) -> None:
    # gradings that make no run (cheap): the files travel, are found and judged the same
    jobs = _jobs(tmp_path)
    shipped = ship_exercise(jobs[0].exercise, autoload=False)
    for job in jobs:
        local = grade_job(job, RunGate(4)).result
        remote = grade_shipped(shipped, ship_job(job), "b1").result
        assert remote.submission == local.submission == job.display
        assert remote.status == local.status and remote.score == local.score
        assert [d.kind for d in remote.diagnostics] == [d.kind for d in local.diagnostics]
        assert [(c.id, c.status) for c in remote.checks] == [(c.id, c.status) for c in local.checks]
    kinds = {job.student: {d.kind for d in grade_job(job, RunGate(4)).result.diagnostics}
             for job in jobs}  # fmt: skip
    assert kinds["nested"] == kinds["zipped"] == {"syntax_error"}
    assert kinds["missing"] == {"missing_file"}


def test_a_worker_with_another_grader_refuses_the_task(tmp_path: Path) -> None:
    job = _jobs(tmp_path)[0]
    shipped = ship_exercise(job.exercise, autoload=False)
    other = type(shipped)(**{**shipped.__dict__, "grader_version": "ipcgrader 0.0.1"})
    with pytest.raises(WorkerMismatch, match=r"planned with ipcgrader 0\.0\.1"):
        grade_shipped(other, ship_job(job), "b1")


def test_a_worker_that_joined_later_is_refused_by_the_rule_of_connect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ipcgrader.batch import shipping

    monkeypatch.delenv("IPCGRADER_ISOLATION", raising=False)
    monkeypatch.setattr(shipping, "_LEVELS", {})  # as in a worker process that just joined
    basic_only = {"ipcgrader": __version__, "python": "3", "host": "late", "cores": 1,
                  "isolation": {"chosen": "basic", "forced": "auto", "error": None}}  # fmt: skip
    asked: list[str | None] = []

    def info(level: str | None = None, measure_repeats: int = 0) -> dict[str, Any]:
        asked.append(level)
        forced = level or "auto"
        return {**basic_only, "isolation": {**basic_only["isolation"], "forced": forced}}

    monkeypatch.setattr(shipping, "worker_info", info)
    job = _jobs(tmp_path)[0]
    for_class = ship_exercise(job.exercise, autoload=False, students=2)
    with pytest.raises(WorkerMismatch, match="has only the basic isolation level"):
        grade_shipped(for_class, ship_job(job), "b1")
    # asked for by name, basic is what the class gets there, and only for its own tasks:
    # the worker's environment is left as it was (another batch may grade there too)
    named = ship_exercise(job.exercise, autoload=False, isolation_level="basic", students=2)
    assert grade_shipped(named, ship_job(job), "b1").result.submission == job.display
    assert asked == [None, "basic"]
    assert "IPCGRADER_ISOLATION" not in os.environ


def test_doctor_scheduler_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with mock.patch.dict(sys.modules, {"distributed": None}):  # import fails as if absent
        assert main(["doctor", "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'ipcgrader[dask]'" in err
    pytest.importorskip("distributed", reason="needs Dask: pip install 'ipcgrader[dask]'")
    assert main(["doctor", "--scheduler", "tcp://127.0.0.1"]) == 2  # no port
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Dask scheduler at tcp://127.0.0.1" in err
    argv = ["doctor", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "0.2"]
    assert main(argv) == 2  # nobody listens there
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err + captured.out


def test_workers_are_checked_and_described_on_connect() -> None:
    isolation = isolation_report()
    assert isolation["chosen"] in {"basic", "namespaces", "bwrap"} or isolation["error"]
    good = {"ipcgrader": __version__, "python": "3.12.1", "host": "h1", "cores": 4,
            "isolation": {"chosen": "bwrap"}}  # fmt: skip
    old = {**good, "ipcgrader": "0.0.1"}
    broken = {**good, "isolation": {"chosen": None, "error": "IPCGRADER_ISOLATION=bwrap: no"}}
    assert check_workers({"tcp://a:1": good}) == []
    [problem] = check_workers({"tcp://a:1": good, "tcp://b:2": old})
    assert "tcp://b:2 runs ipcgrader 0.0.1" in problem
    assert f"pip install 'ipcgrader[dask]=={__version__}'" in problem
    assert "cannot isolate" in check_workers({"tcp://c:3": broken})[0]
    # only basic there: refused for a class unless basic was asked for by name, as locally
    basic = {**good, "isolation": {"chosen": "basic", "forced": "auto"}}
    [refusal] = check_workers({"tcp://d:4": basic}, students=2)
    assert "tcp://d:4 has only the basic isolation level" in refusal
    assert "--isolation basic" in refusal
    assert check_workers({"tcp://d:4": basic}, students=1) == []
    asked = {**good, "isolation": {"chosen": "basic", "forced": "basic"}}
    assert check_workers({"tcp://d:4": asked}, students=2) == []
    line = describe_worker("tcp://a:1", good)
    assert "tcp://a:1 (h1)" in line and "isolation bwrap" in line and "4 cores" in line


def test_scheduler_without_dask_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _student(tmp_path / "subs", "s1", _variant("syntax_error"))
    with mock.patch.dict(sys.modules, {"distributed": None}):  # import fails as if absent
        code, _ = batch("--submissions", str(tmp_path / "subs"), "--out", str(tmp_path / "o"),
                        "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert code == 2
    assert "pip install 'ipcgrader[dask]'" in capsys.readouterr().err


def test_scheduler_and_jobs_together_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _student(tmp_path / "subs", "s1", _variant("syntax_error"))
    code, _ = batch("--submissions", str(tmp_path / "subs"), "-j", "2",
                    "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert code == 2 and "--nthreads" in capsys.readouterr().err


# --- on a real cluster ---------------------------------------------------------------------


def _address(scheduler_file: Path) -> str | None:
    """The scheduler's address once it has written the whole file."""
    try:
        address: str = json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):  # not there yet, or half written
        return None
    return address


class Cluster:
    """A scheduler and named workers on 127.0.0.1, each its own process group."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "TMPDIR": str(root)}  # the runs' folders too

    def _start(self, name: str, *args: str) -> None:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "dask", *args], stdout=log, stderr=log, env=self.env,
            start_new_session=True, cwd=self.root,
        )  # fmt: skip
        log.close()

    def start(self, workers: int) -> str:
        """Start the scheduler and ``workers`` workers; return the scheduler's address once
        every worker has joined."""
        import distributed

        file = self.root / "scheduler.json"
        self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--no-dashboard", "--scheduler-file", str(file))  # fmt: skip
        for index in range(workers):
            name = f"w{index}"
            self._start(name, "worker", "--scheduler-file", str(file), "--name", name,
                        "--host", "127.0.0.1", "--no-dashboard", "--no-nanny",
                        "--nthreads", "1", "--local-directory", str(self.root / name))  # fmt: skip
        deadline = time.monotonic() + 120  # a bound against hanging, not a timing test
        while (address := _address(file)) is None:
            assert self.procs["scheduler"].poll() is None, self.log("scheduler")
            assert time.monotonic() < deadline, self.log("scheduler")
            time.sleep(0.1)
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=120)
        return address

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")[-3000:]

    def kill(self, name: str) -> int:
        """SIGKILL a process's whole group (no goodbye to the scheduler); return its pid."""
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return proc.pid

    def stop(self) -> None:
        for proc in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(name)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pytest.importorskip("distributed", reason="needs Dask: pip install 'ipcgrader[dask]'")
    made = Cluster(tmp_path / "cluster")
    made.root.mkdir()
    try:
        yield made
    finally:
        made.stop()


def test_a_class_graded_on_a_cluster_has_the_rows_of_a_local_batch(
    tmp_path: Path, cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    address = cluster.start(workers=2)
    subs = tmp_path / "subs"
    # variants whose every check is deterministic (a racy one may oversell in one grading
    # and not in another: only its race checks are judged the same every time)
    _student(subs, "a_ok", SOLUTION)
    _student(subs, "b_ok", _variant("correct_try_finally"))
    _student(subs, "c_nested", _variant("syntax_error"), sub="lock_ticket")
    with zipfile.ZipFile(subs / "d_zipped.zip", "w") as zf:
        zf.writestr("d/ticket.py", _variant("missing_task"))
    # a generous timeout: a loaded machine must not turn a correct run into a timeout
    common = ("--submissions", str(subs), "--timeout", "20")
    code, printed = batch(*common, "--out", str(tmp_path / "dask"), "--scheduler", address)
    assert "done: 4 graded, 0 unchanged, 0 left" in printed, printed + cluster.log("w0")
    assert printed.count(f"ipcgrader {__version__}, Python") == 2  # a line per worker
    local_code, _ = batch(*common, "--out", str(tmp_path / "local"))
    assert code == local_code == 1
    on_cluster = gradebook_rows(tmp_path / "dask" / "gradebook.sqlite")
    assert on_cluster == gradebook_rows(tmp_path / "local" / "gradebook.sqlite")
    statuses = {student: row[0] for student, row in on_cluster.items()}
    assert statuses == {"a_ok": "passed", "b_ok": "passed", "c_nested": "failed",
                        "d_zipped": "failed"}  # fmt: skip
    # each worker forks the runs of all its gradings from the one warm runner it keeps:
    # three gradings make runs (a_ok, b_ok, d_zipped), so two workers that started a warm
    # interpreter per grading would have started three
    kept = _runner_reports(address)
    assert sum(report["gradings"] for report in kept) == 4
    assert all(report["runners"] <= 1 and report["launched"] <= 1 for report in kept), kept
    if level_is_warm(isolation_report()["chosen"] or ""):
        assert sum(report["forked"] for report in kept) >= 3 * 2, kept
    # the exports are the client's, from its gradebook
    assert len((tmp_path / "dask" / "grades.csv").read_text().splitlines()) == 5
    code, printed = batch(*common, "--out", str(tmp_path / "dask"), "--scheduler", address)
    assert "0 graded, 4 unchanged" in printed  # resume works the same
    # ipcgrade doctor on every worker of the same cluster, in both languages
    assert main(["doctor", "--scheduler", address]) == 0
    said = capsys.readouterr().out
    assert said.count("worker tcp://127.0.0.1:") == 2, said
    assert said.count("level used for every run:") == 2
    assert said.count("    isolation levels on this host:") == 2  # under its worker
    before = i18n.language()
    try:
        assert main(["doctor", "--scheduler", address, "--lang", "zh"]) == 0
    finally:
        i18n.set_language(before)
    said = capsys.readouterr().out
    assert said.count("隔离级别") >= 2 and said.count("每次运行使用的级别") == 2, said


def test_a_worker_lost_mid_batch_costs_only_a_retry(tmp_path: Path, cluster: Cluster) -> None:
    import distributed

    address = cluster.start(workers=2)
    subs = tmp_path / "subs"
    students = [f"s{index}" for index in range(4)]
    for student in students:
        _student(subs, student, SOLUTION)
    out = tmp_path / "out"
    db = out / "gradebook.sqlite"
    argv = [sys.executable, "-m", "ipcgrader", "batch", str(EXERCISES / "lock_ticket"),
            "--submissions", str(subs), "--out", str(out), "--scheduler", address,
            "--progress", "plain", "--timeout", "20"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    killed = None
    warm_here = level_is_warm(isolation_report()["chosen"] or "")
    zygotes: list[int] = []
    try:
        deadline = time.monotonic() + 120  # a bound against hanging, not a timing test
        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            while killed is None:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "no grading came back"
                done = _count(db)
                busy = [a for a, keys in client.processing().items() if keys]
                if done >= 1 and busy:  # a result is back, and a worker is grading
                    name = client.scheduler_info()["workers"][busy[0]]["name"]
                    # with its warm interpreter, where runs are warm here
                    zygotes = _warm_interpreters(cluster.procs[name].pid)
                    if zygotes or not warm_here:
                        killed = cluster.kill(name)
                time.sleep(0.05)
        printed = proc.communicate(timeout=300)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, printed
    assert "done: 4 graded, 0 unchanged, 0 left" in printed, printed  # each grading once
    found = gradebook_rows(db)
    assert sorted(found) == students
    assert {status for status, *_ in found.values()} == {"passed"}
    # the lost worker's runs end by themselves (their supervisor or bwrap sees it go)
    # and so does its warm interpreter (its socket's other end is gone)
    deadline = time.monotonic() + 60
    while left := marked_processes(killed) + sorted(set(zygotes) & set(_warm_interpreters())):
        assert time.monotonic() < deadline, f"runs or warm interpreters left behind: {left}"
        time.sleep(0.1)


def _runner_reports(address: str) -> list[dict[str, int]]:
    """What each worker's kept warm runner did."""
    import distributed

    from ipcgrader.batch.worker_runner import runner_report

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        return list(client.run(runner_report).values())


def _warm_interpreters(parent: int | None = None) -> list[int]:
    """Live warm interpreters (of ``parent`` if given; a killed worker's have another)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read().split(b"\0")
        except OSError:
            continue
        mine = parent is None or int(fields[1]) == parent
        zygote = any(item.startswith(f"{SOCKET_ENV}=".encode()) for item in environ)
        if zygote and mine and fields[0] != b"Z":
            found.append(int(entry))
    return found


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        try:
            return int(conn.execute("SELECT count(*) FROM gradings").fetchone()[0])
        except sqlite3.OperationalError:  # created, tables not yet
            return 0


class _OneThenAbort:
    """An executor of the runner's interface: the first grading succeeds (made here), the
    next futures fail as a mismatched worker's would."""

    in_flight = 1

    def __init__(self) -> None:
        self.submitted = 0
        self.closed = False

    def submit(self, job: Job) -> Future[Graded]:
        future: Future[Graded] = Future()
        self.submitted += 1
        if self.submitted == 1:
            future.set_result(grade_job(job, RunGate(4)))
        else:
            future.set_exception(WorkerMismatch("worker w9 grades with ipcgrader 0.0.1"))
        return future

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_an_executor_that_cannot_go_on_stops_the_batch_keeping_what_was_graded(
    tmp_path: Path,
) -> None:
    jobs = _jobs(tmp_path)
    executor = _OneThenAbort()
    with Gradebook(tmp_path / "gradebook.sqlite") as gradebook:
        report = run_batch(jobs, gradebook, PlainProgress(io.StringIO()), cores=1,
                           executor=executor)  # fmt: skip
        assert [g.student for g in gradebook.gradings()] == [jobs[0].student]
    assert report.error == "worker w9 grades with ipcgrader 0.0.1"
    assert report.interrupted and report.graded == 1 and executor.closed


def test_ctrl_c_on_a_cluster_stops_the_workers_runs_keeps_what_was_graded_and_resumes(
    tmp_path: Path, cluster: Cluster
) -> None:
    address = cluster.start(workers=1)
    worker = cluster.procs["w0"].pid
    out = tmp_path / "out"
    db = out / "gradebook.sqlite"
    subs = tmp_path / "subs"
    _student(subs, "a_syntax", _variant("syntax_error"))  # two gradings without a run
    _student(subs, "b_missing", _variant("missing_task"))
    # blocks in no wait the grader watches: only the (long) wall timeout or a stop ends it
    _student(subs, "z_paused", b"import signal\nsignal.pause()\n" + SOLUTION)
    argv = [sys.executable, "-m", "ipcgrader", "batch", str(EXERCISES / "lock_ticket"),
            "--submissions", str(subs), "--out", str(out), "--scheduler", address,
            "--progress", "plain", "--timeout", "600"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120  # a bound against hanging, not a timing test
        while _count(db) < 2 or not marked_processes(worker):  # z_paused's runs are on
            assert proc.poll() is None, proc.communicate()[0].decode()
            assert time.monotonic() < deadline, "the batch made no progress"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        printed = proc.communicate(timeout=60)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, printed
    assert "interrupted: 2 graded" in printed, printed
    assert sorted(gradebook_rows(db)) == ["a_syntax", "b_missing"]
    # the stop reached the worker: its runs are killed, not left to their 600 s timeout
    deadline = time.monotonic() + 60
    while marked_processes(worker):
        assert time.monotonic() < deadline, f"runs left on the worker: {marked_processes(worker)}"
        time.sleep(0.05)
    (subs / "z_paused" / "ticket.py").write_bytes(SOLUTION)
    code, printed = batch("--submissions", str(subs), "--out", str(out), "--timeout", "600",
                          "--scheduler", address)  # fmt: skip
    assert "1 graded, 2 unchanged, 0 left" in printed, printed
    assert code == 1  # a_syntax is below full marks
    assert gradebook_rows(db)["z_paused"][0] == "passed"
    # both batches' runs were forked from the warm runner the worker keeps: the stop
    # killed runs, not the runner (a grading that started its own would have made two)
    [kept] = _runner_reports(address)
    assert kept["gradings"] == 4 and kept["runners"] == 1, kept
    if level_is_warm(isolation_report()["chosen"] or ""):
        assert kept["launched"] == 1 and kept["forked"] > 0, kept
