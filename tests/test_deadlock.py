"""Hangs judged as they happen: a deadlocked run is stopped at once with its wait-for graph,
a spinning one by its CPU budget, and a run that can still make progress is never stopped.

Each program is graded for real (one script run) in a tiny exercise of its own; all of them
at once, in one module-scoped fixture. Latencies are read from the trace's timestamps (the
monotonic clock every process shares), never from the test's own clock.
"""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import RunRecord
from ipcgrader.session import grade
from ipcgrader.trace import TRACE_ARTIFACT, WAIT_FOR_ARTIFACT, Trace

#: Longest a deadlock may go unnoticed: its last event to the supervisor's decision.
DETECTED_WITHIN_S = 0.5

EXERCISE = """\
id = "hang"
title = "hang"
entry = ["prog.py"]
timeout = {timeout}
[limits]
run_cpu_s = {budget}
[[scenarios]]
id = "run"
  [[scenarios.expect]]
  kind = "finishes"
"""

PROGRAMS = {
    # each holds one lock and waits for the other's (a Barrier makes it happen every time)
    "two_locks": """
        from multiprocessing import Barrier, Lock, Process

        def buyer(first, second, ready):
            with first:
                ready.wait()
                with second:
                    pass

        if __name__ == "__main__":
            a, b, ready = Lock(), Lock(), Barrier(2)
            p = Process(target=buyer, args=(a, b, ready))
            q = Process(target=buyer, args=(b, a, ready))
            p.start(); q.start()
            p.join(); q.join()
        """,
    "self_deadlock": """
        from multiprocessing import Lock, Process

        def task(lock):
            lock.acquire()
            lock.acquire()

        if __name__ == "__main__":
            p = Process(target=task, args=(Lock(),))
            p.start()
            p.join()
        """,
    # the producer blocks in put() on the full queue, main in join() before draining it
    "join_before_drain": """
        from multiprocessing import Process, Queue

        def producer(q):
            for item in range(10):
                q.put(item)

        if __name__ == "__main__":
            q = Queue(3)
            p = Process(target=producer, args=(q,))
            p.start()
            p.join()
            print([q.get() for _ in range(10)])
        """,
    # unbounded queue: the child's feeder cannot flush a large item at exit, nobody reads
    "join_before_drain_flush": """
        from multiprocessing import Process, Queue

        def producer(q):
            q.put("x" * 1_000_000)

        if __name__ == "__main__":
            q = Queue()
            p = Process(target=producer, args=(q,))
            p.start()
            p.join()
            print(len(q.get()))
        """,
    "pipe_both_recv": """
        from multiprocessing import Pipe, Process

        def echo(conn):
            conn.send(conn.recv())

        if __name__ == "__main__":
            parent, child = Pipe()
            p = Process(target=echo, args=(child,))
            p.start()
            print(parent.recv())
            p.join()
        """,
    # --- runs that look stuck for a while but are not: never stopped ---------------------
    # the lock's holder sleeps (0.5 s once dilated), then releases it
    "holder_sleeps": """
        import time
        from multiprocessing import Lock, Process

        def task(lock):
            with lock:
                print("got it")

        if __name__ == "__main__":
            lock = Lock()
            lock.acquire()
            p = Process(target=task, args=(lock,))
            p.start()
            time.sleep(50)
            lock.release()
            p.join()
        """,
    # the lock's holder computes for a while, then releases it
    "holder_computes": """
        from multiprocessing import Lock, Process

        def task(lock):
            with lock:
                print("got it")

        if __name__ == "__main__":
            lock = Lock()
            lock.acquire()
            p = Process(target=task, args=(lock,))
            p.start()
            total = sum(i * i for i in range(3_000_000))
            lock.release()
            p.join()
            print(total > 0)
        """,
    # the child's wait has a timeout: it gives up and ends, so the join returns
    "timed_acquire": """
        from multiprocessing import Lock, Process

        def task(lock):
            print(lock.acquire(timeout=0.5))

        if __name__ == "__main__":
            lock = Lock()
            lock.acquire()
            p = Process(target=task, args=(lock,))
            p.start()
            p.join()
        """,
    # an alarm's handler releases the lock the process waits for
    "alarm_releases": """
        import signal
        from multiprocessing import Lock

        if __name__ == "__main__":
            lock = Lock()
            lock.acquire()
            signal.signal(signal.SIGALRM, lambda *_: lock.release())
            signal.alarm(1)
            lock.acquire()
            print("woken")
        """,
    # --- spinning: stopped by the CPU budget, not the clock ------------------------------
    "spinners": """
        from multiprocessing import Process

        def spin():
            while True:
                pass

        if __name__ == "__main__":
            workers = [Process(target=spin) for _ in range(3)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        """,
}
DEADLOCKS = ("two_locks", "self_deadlock", "join_before_drain", "join_before_drain_flush",
             "pipe_both_recv")  # fmt: skip
PROGRESS = ("holder_sleeps", "holder_computes", "timed_acquire", "alarm_releases")


def _grade(root: Path, name: str) -> RunRecord:
    folder = root / name
    (folder / "submission").mkdir(parents=True)
    # generous wall timeouts: none of these may end by the clock
    budget = 0.5 if name == "spinners" else 10
    (folder / "exercise.toml").write_text(EXERCISE.format(timeout=60, budget=budget))
    source = textwrap.dedent(PROGRAMS[name])
    for starter in (folder / "prog.py", folder / "submission" / "prog.py"):
        starter.write_text(source, encoding="utf-8")
    pm = get_plugin_manager(autoload=False)
    runs: list[RunRecord] = []
    grade(load_exercise(folder, pm), folder / "submission", pm, on_run=runs.append)
    (record,) = runs
    return record


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunRecord]:
    root = tmp_path_factory.mktemp("hangs")
    with ThreadPoolExecutor(4) as pool:
        records = pool.map(lambda name: (name, _grade(root, name)), PROGRAMS)
        return dict(records)


def _trace(record: RunRecord) -> Trace:
    trace = record.artifacts[TRACE_ARTIFACT]
    assert isinstance(trace, Trace)
    return trace


@pytest.mark.parametrize("name", DEADLOCKS)
def test_a_deadlock_is_stopped_at_once(graded: dict[str, RunRecord], name: str) -> None:
    record = graded[name]
    assert record.outcome.stopped == "deadlock", (record.outcome, record.outcome.stderr)
    last = max(event.t for event in _trace(record).events)
    assert record.outcome.stopped_t is not None
    assert 0 <= record.outcome.stopped_t - last < DETECTED_WITHIN_S
    assert "deadlock" in {d.kind for d in record.diagnostics}


def test_the_wait_for_graph_names_each_wait_and_each_holder(
    graded: dict[str, RunRecord],
) -> None:
    graph = graded["two_locks"].artifacts[WAIT_FOR_ARTIFACT]
    nodes = {node["pid"]: node for node in graph["nodes"]}
    buyers = [node for node in nodes.values() if node["waits_in"] == "lock"]
    assert len(buyers) == 2
    # each waits at the inner `with second:` (line 7) for the lock the other took at line 5
    # (line 1 of prog.py is blank)
    assert {(b["file"], b["line"]) for b in buyers} == {("prog.py", 7)}
    for buyer in buyers:
        (holder,) = buyer["waits_for"]
        assert holder != buyer["pid"]
        assert [(h["file"], h["line"]) for h in nodes[holder]["holds"]] == [("prog.py", 5)]
    assert sorted(graph["cycle"]) == sorted(b["pid"] for b in buyers)
    joins = [node for node in nodes.values() if node["waits_in"] == "join"]
    assert [(j["file"], j["line"]) for j in joins] == [("prog.py", 15)]


def test_a_self_deadlock_waits_for_itself(graded: dict[str, RunRecord]) -> None:
    graph = graded["self_deadlock"].artifacts[WAIT_FOR_ARTIFACT]
    (child,) = [node for node in graph["nodes"] if node["waits_in"] == "lock"]
    assert child["waits_for"] == [child["pid"]] and graph["cycle"] == [child["pid"]]
    (finding,) = [d for d in graded["self_deadlock"].diagnostics if d.kind == "deadlock"]
    assert (finding.file, finding.line) == ("prog.py", 6)
    assert "which it holds itself" in finding.message


@pytest.mark.parametrize("name", PROGRESS)
def test_a_run_that_can_go_on_is_never_stopped(graded: dict[str, RunRecord], name: str) -> None:
    outcome = graded[name].outcome
    assert outcome.stopped is None and outcome.returncode == 0, (outcome, outcome.stderr)


def test_a_spinning_run_is_stopped_by_its_cpu_budget(graded: dict[str, RunRecord]) -> None:
    record = graded["spinners"]
    assert record.outcome.stopped == "cpu_budget", record.outcome
    assert record.outcome.run_cpu_s is not None and record.outcome.run_cpu_s >= 0.5
    assert "0.5 s of CPU time" in (record.problem() or "")
