"""Hangs judged as they happen: a deadlocked run is stopped at once with its wait-for graph,
a spinning one by its CPU budget, and a run that can still make progress is never stopped.

Each program is graded for real (one script run) in a tiny exercise of its own; all of them
at once, in one module-scoped fixture. Latencies are read from the trace's timestamps (the
monotonic clock every process shares), never from the test's own clock.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ipcgrader.harness import supervise
from ipcgrader.harness_plugin import INJECT_DIR
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
{methods}{trace}[limits]
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
    # the same under spawn, as the grader makes it warm: the child and multiprocessing's
    # resource tracker come from the template, which says which one is the tracker
    "spawn_self_deadlock": """
        from multiprocessing import Lock, Process

        def task(lock):
            lock.acquire()
            lock.acquire()

        if __name__ == "__main__":
            lock = Lock()
            p = Process(target=task, args=(lock,))
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
    # nobody sets the Event the child waits for
    "event_never_set": """
        from multiprocessing import Event, Process

        def waiter(ready):
            ready.wait()

        if __name__ == "__main__":
            ready = Event()
            p = Process(target=waiter, args=(ready,))
            p.start()
            p.join()
        """,
    # two workers wait at a Barrier(3) that only they reach; a third waits on a Condition
    # that nobody notifies
    "barrier_and_condition": """
        from multiprocessing import Barrier, Condition, Process

        def worker(gate):
            gate.wait()

        def consumer(cond):
            with cond:
                cond.wait()

        if __name__ == "__main__":
            gate, cond = Barrier(3), Condition()
            procs = [Process(target=worker, args=(gate,)) for _ in range(2)]
            procs.append(Process(target=consumer, args=(cond,)))
            for p in procs:
                p.start()
            for p in procs:
                p.join()
        """,
    # two locks of a Manager taken in opposite orders (the Barrier makes it happen)
    "manager_two_locks": """
        from multiprocessing import Barrier, Manager, Process

        def buyer(first, second, ready):
            with first:
                ready.wait()
                with second:
                    pass

        if __name__ == "__main__":
            with Manager() as manager:
                a, b, ready = manager.Lock(), manager.Lock(), Barrier(2)
                p = Process(target=buyer, args=(a, b, ready))
                q = Process(target=buyer, args=(b, a, ready))
                p.start(); q.start()
                p.join(); q.join()
        """,
    # a Manager's Event that is never set, a Manager's Queue that nobody puts into
    "manager_event_queue": """
        from multiprocessing import Manager, Process

        def waiter(ready):
            ready.wait()

        if __name__ == "__main__":
            with Manager() as manager:
                ready, results = manager.Event(), manager.Queue()
                p = Process(target=waiter, args=(ready,))
                p.start()
                print(results.get())
                p.join()
        """,
    # a JoinableQueue's consumer takes every item but never calls task_done(): join() waits
    # for good while the consumer waits in get() for more
    "joinable_no_task_done": """
        from multiprocessing import JoinableQueue, Process

        def consumer(q):
            while True:
                print(q.get())

        if __name__ == "__main__":
            q = JoinableQueue()
            p = Process(target=consumer, args=(q,), daemon=True)
            p.start()
            for item in range(3):
                q.put(item)
            q.join()
        """,
    # the consumer handles one item and ends: the other two are never marked done
    "joinable_consumer_ended": """
        from multiprocessing import JoinableQueue, Process

        def consumer(q):
            print(q.get())
            q.task_done()

        if __name__ == "__main__":
            q = JoinableQueue()
            p = Process(target=consumer, args=(q,))
            p.start()
            for item in range(3):
                q.put(item)
            q.join()
            p.join()
        """,
    # a loop that only watches the other processes (as an exercise's driver does, telling
    # the harness): the child it waits for waits for good on an Event, so nothing ends it
    "watch_stuck": """
        import threading
        import _ipcgrader_trace as harness
        from multiprocessing import Event, Process

        def waiter(ready):
            ready.wait()

        if __name__ == "__main__":
            p = Process(target=waiter, args=(Event(),))
            p.start()
            slot = 0
            while p.is_alive():
                slot = harness.watched(slot)
                threading.Event().wait(0.005)
            harness.unwatched(slot)
        """,
    # the same with a Manager's JoinableQueue: the consumer ended after one item
    "manager_joinable": """
        from multiprocessing import Manager, Process

        def consumer(q):
            print(q.get())
            q.task_done()

        if __name__ == "__main__":
            with Manager() as manager:
                q = manager.JoinableQueue()
                p = Process(target=consumer, args=(q,))
                p.start()
                for item in range(3):
                    q.put(item)
                q.join()
                p.join()
        """,
    # poll amplification (AMPLIFIED): the producer's feeder holds its first item until a
    # taker asks, and nobody will (main waits on an Event, not on the queue); the producer
    # blocks in its 4th put. Stuck but for the hold: let go at once, then found deadlocked
    "amplified_put": """
        from multiprocessing import Event, Process, Queue

        def producer(q):
            for item in range(5):
                q.put(item)

        if __name__ == "__main__":
            q, done = Queue(3), Event()
            p = Process(target=producer, args=(q,))
            p.start()
            done.wait()
            p.join()
        """,
    # --- runs that look stuck for a while but are not: never stopped ---------------------
    # amplified: the producer's item is held while main sleeps (0.2 s once dilated): a
    # process that sleeps may still ask, so the hold lasts and main's first look finds
    # nothing; the look asks, and the hold ends as it always did
    "amplified_sleeper": """
        import time
        from multiprocessing import Process, Queue

        def producer(q):
            q.put(1)
            q.put(None)

        if __name__ == "__main__":
            q = Queue()
            p = Process(target=producer, args=(q,))
            p.start()
            time.sleep(20)
            first_look_empty = q.empty()
            items = []
            while (item := q.get()) is not None:
                items.append(item)
            p.join()
            print(first_look_empty, items)
        """,
    # the same watch, for a child that sleeps (0.3 s once dilated) and ends
    "watch_ended_later": """
        import threading
        import time
        import _ipcgrader_trace as harness
        from multiprocessing import Process

        def sleeper():
            time.sleep(30)

        if __name__ == "__main__":
            p = Process(target=sleeper)
            p.start()
            slot = 0
            while p.is_alive():
                slot = harness.watched(slot)
                threading.Event().wait(0.005)
            harness.unwatched(slot)
            print("ended")
        """,
    # a daemon consumer marks each item done (after a sleep: main waits in join() meanwhile)
    "joinable_correct": """
        import time
        from multiprocessing import JoinableQueue, Process

        def consumer(q):
            while True:
                item = q.get()
                time.sleep(10)
                print(item)
                q.task_done()

        if __name__ == "__main__":
            q = JoinableQueue()
            p = Process(target=consumer, args=(q,), daemon=True)
            p.start()
            for item in range(3):
                q.put(item)
            q.join()
            print("all done")
        """,
    # Event, Condition and a Manager's Event, Lock and Queue: each wait is ended by a
    # process that sleeps first (0.2 s each once dilated), holding the Manager's lock
    "waits_ended_later": """
        import time
        from multiprocessing import Condition, Event, Manager, Process

        def waiter(ready, cond, shared_ready, shared_lock, results):
            ready.wait()
            with cond:
                cond.wait()
            shared_ready.wait()
            with shared_lock:
                print("got", results.get())

        if __name__ == "__main__":
            with Manager() as manager:
                ready, cond = Event(), Condition()
                shared = manager.Event(), manager.Lock(), manager.Queue()
                p = Process(target=waiter, args=(ready, cond, *shared))
                p.start()
                with shared[1]:
                    time.sleep(20)
                    ready.set()
                    time.sleep(20)
                    with cond:
                        cond.notify()
                    time.sleep(20)
                    shared[0].set()
                    time.sleep(20)
                shared[2].put(1)
                p.join()
        """,
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
    # a forkserver's children have its command line, as multiprocessing's helpers do: the
    # main process's join waits for one that computes, which is no deadlock
    "forkserver_child_computes": """
        import multiprocessing as mp

        def work():
            total = 0
            for i in range(3_000_000):
                total += i
            print(total)

        if __name__ == "__main__":
            mp.set_start_method("forkserver")
            p = mp.Process(target=work)
            p.start()
            p.join()
        """,
    # ... and a deadlock of its children is one (the forkserver itself only serves)
    "forkserver_join_before_drain": """
        import multiprocessing as mp

        def producer(q):
            for item in range(10):
                q.put(item)

        if __name__ == "__main__":
            mp.set_start_method("forkserver")
            q = mp.Queue(3)
            p = mp.Process(target=producer, args=(q,))
            p.start()
            p.join()
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
DEADLOCKS = ("two_locks", "self_deadlock", "spawn_self_deadlock", "join_before_drain",
             "join_before_drain_flush", "pipe_both_recv", "event_never_set",
             "barrier_and_condition",
             "manager_two_locks", "manager_event_queue", "joinable_no_task_done",
             "joinable_consumer_ended", "watch_stuck", "manager_joinable",
             "amplified_put", "forkserver_join_before_drain")  # fmt: skip
PROGRESS = ("holder_sleeps", "holder_computes", "timed_acquire", "alarm_releases",
            "waits_ended_later", "joinable_correct", "watch_ended_later",
            "amplified_sleeper", "forkserver_child_computes")  # fmt: skip
#: graded with poll amplification, each hold lasting up to 3 s (far above DETECTED_WITHIN_S)
AMPLIFIED = ("amplified_put", "amplified_sleeper")
AMPLIFY = "[trace]\namplify = true\namplify_wait_s = 3.0\n"


def _grade(root: Path, name: str) -> RunRecord:
    folder = root / name
    (folder / "submission").mkdir(parents=True)
    # generous wall timeouts: none of these may end by the clock
    budget = 0.5 if name == "spinners" else 10
    trace = AMPLIFY if name in AMPLIFIED else ""
    methods = 'start_methods = ["spawn"]\n' if name.startswith("spawn_") else ""
    (folder / "exercise.toml").write_text(
        EXERCISE.format(timeout=60, budget=budget, trace=trace, methods=methods)
    )
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
    # the evidence it was judged on is kept: every live process's board, its waiting threads
    assert record.outcome.stuck is not None and " w" in record.outcome.stuck


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


def test_a_deadlock_behind_an_amplified_hold_is_not_waited_for(
    graded: dict[str, RunRecord],
) -> None:
    # (stopped within DETECTED_WITHIN_S of its last event: test_a_deadlock_is_stopped_at_once;
    # the hold alone would have lasted 3 s)
    stuck = _stuck(graded["amplified_put"])
    # the producer blocked in its 4th put (line 6), main on the Event (line 12)
    assert (stuck[("prog.py", 6)]["waits_in"], stuck[("prog.py", 12)]["what"]) == ("put", "Event")


def test_an_amplified_hold_is_never_let_go_while_a_process_sleeps(
    graded: dict[str, RunRecord],
) -> None:
    # main's first look came after its sleep, and still found nothing: the item was held
    # all the while, then let through by main's ask as before
    outcome = graded["amplified_sleeper"].outcome
    assert outcome.stdout.splitlines() == ["True [1]"], outcome
    (look,) = [e for e in _trace(graded["amplified_sleeper"]).events if e.kind == "poll"]
    assert look.get("empty") is True


def test_a_spinning_run_is_stopped_by_its_cpu_budget(graded: dict[str, RunRecord]) -> None:
    outcome = graded["spinners"].outcome
    assert outcome.stopped == "cpu_budget", outcome
    # the spec's 0.5 s: its fork children start no interpreter, and a warm main process
    # neither (a cold one is allowed its start-up on top)
    budget = outcome.cpu_budget_s
    assert budget is not None and (budget == 0.5 if outcome.warm else 0.5 <= budget < 0.75)
    assert outcome.run_cpu_s is not None and outcome.run_cpu_s >= budget
    said = graded["spinners"].problem() or ""
    assert "s of CPU time" in said and f"the {budget:g} s this run may use" in said


def _stuck(record: RunRecord) -> dict[tuple[str | None, int | None], dict[str, object]]:
    """The wait-for graph's nodes by their line."""
    graph = record.artifacts[WAIT_FOR_ARTIFACT]
    return {(node["file"], node["line"]): node for node in graph["nodes"]}


def test_event_condition_and_barrier_waits_are_in_the_graph(
    graded: dict[str, RunRecord],
) -> None:
    event = _stuck(graded["event_never_set"])
    assert (event[("prog.py", 5)]["waits_in"], event[("prog.py", 5)]["what"]) == ("wait", "Event")
    assert event[("prog.py", 11)]["waits_in"] == "join"
    record = graded["barrier_and_condition"]
    stuck = _stuck(record)
    assert stuck[("prog.py", 5)]["what"] == "Barrier"  # both workers, one line
    assert stuck[("prog.py", 9)]["what"] == "Condition"
    assert stuck[("prog.py", 9)]["holds"] == []  # wait() released the Condition's lock
    found = {(d.kind, d.line) for d in record.diagnostics}
    assert {("hang_wait", 5), ("hang_wait", 9)} <= found
    (summary,) = [d for d in record.diagnostics if d.kind == "deadlock"]
    # the wait said once, without its number of processes (it follows the scenario, and
    # the same deadlock must read the same in every run)
    assert summary.message.count("Barrier.wait() at prog.py, line 5") == 1
    assert "processes)" not in summary.message


def test_a_manager_lock_deadlock_names_the_holders(graded: dict[str, RunRecord]) -> None:
    graph = graded["manager_two_locks"].artifacts[WAIT_FOR_ARTIFACT]
    nodes = {node["pid"]: node for node in graph["nodes"]}
    buyers = [node for node in nodes.values() if node["waits_in"] == "lock"]
    assert len(buyers) == 2 and {(b["file"], b["line"]) for b in buyers} == {("prog.py", 7)}
    for buyer in buyers:  # a Manager's lock, held by the other buyer since line 5
        assert str(buyer["obj"]).startswith("M")
        (holder,) = buyer["waits_for"]
        assert holder != buyer["pid"]
        assert [(h["file"], h["line"]) for h in nodes[holder]["holds"]] == [("prog.py", 5)]
    assert sorted(graph["cycle"]) == sorted(b["pid"] for b in buyers)
    # the Manager's server is a service, not a process of the student's in the graph
    assert len(nodes) == 3


def test_manager_event_and_queue_waits_are_in_the_graph(graded: dict[str, RunRecord]) -> None:
    record = graded["manager_event_queue"]
    stuck = _stuck(record)
    assert (stuck[("prog.py", 5)]["waits_in"], stuck[("prog.py", 5)]["what"]) == ("wait", "Event")
    assert stuck[("prog.py", 12)]["waits_in"] == "get"
    found = {(d.kind, d.line) for d in record.diagnostics}
    assert {("hang_wait", 5), ("hang_queue_get", 12)} <= found


def test_a_joinable_queue_join_that_cannot_return_is_in_the_graph(
    graded: dict[str, RunRecord],
) -> None:
    # main() waits in q.join() (line 14); the consumer took every item without task_done()
    record = graded["joinable_no_task_done"]
    stuck = _stuck(record)
    assert (stuck[("prog.py", 14)]["waits_in"], stuck[("prog.py", 6)]["waits_in"]) == (
        "queue_join",
        "get",
    )
    found = {d.kind: d for d in record.diagnostics}
    assert found["hang_queue_join"].line == 14
    assert "without a task_done() call" in found["hang_queue_join"].message
    # the consumer handled one item and ended: the two left are taken by nobody
    (ended,) = [
        d for d in graded["joinable_consumer_ended"].diagnostics if d.kind == "hang_queue_join"
    ]
    assert "no process takes out any more" in ended.message
    # a Manager's JoinableQueue: its join() is on the board and in the graph the same way
    managed = _stuck(graded["manager_joinable"])
    assert managed[("prog.py", 15)]["waits_in"] == "queue_join"


def test_a_watching_loop_counts_as_waiting_and_is_named_as_the_exercise_s(
    graded: dict[str, RunRecord],
) -> None:
    record = graded["watch_stuck"]
    stuck = _stuck(record)
    assert (stuck[("prog.py", 14)]["waits_in"], stuck[("prog.py", 14)]["what"]) == (
        "wait",
        "watch",
    )
    assert stuck[("prog.py", 7)]["what"] == "Event"
    kinds = {(d.kind, d.line) for d in record.diagnostics}
    # the watch is the exercise's check, not a wait of the student's: no finding of its own
    assert ("hang_wait", 7) in kinds and ("hang_wait", 14) not in kinds
    (summary,) = [d for d in record.diagnostics if d.kind == "deadlock"]
    assert summary.line == 7 and "which waits for what the other processes do" in summary.message


def test_a_runs_budget_is_the_spec_s_plus_a_start_up_per_fresh_interpreter() -> None:
    assert supervise.run_budget(0.6, 0.04, 0) == 0.6  # a warm run that started none
    assert supervise.run_budget(0.6, 0.04, 1) == 0.64
    assert supervise.run_budget(0.6, 0.04, 5) == 0.8
    assert supervise.run_budget(0.6, 0.0333, 3) == 0.69  # to the hundredth below
    assert supervise.run_budget(0.29, 0.0, 2) == 0.29  # no credit: the budget as it is
    assert supervise.run_budget(1.0, -1.0, 1) == 1.0


def test_holds_are_let_go_never_through_a_students_link(tmp_path: Path) -> None:
    # the boards' folder is the run's: a student may have planted links where the
    # supervisor writes its answer, or the name it makes the answer under
    target, other = tmp_path / "target", tmp_path / "other"
    target.write_bytes(b"kept")
    other.write_bytes(b"kept too")
    (tmp_path / "go.7").symlink_to(target)
    (tmp_path / ".go.7").symlink_to(other)
    supervise.let_go(str(tmp_path), {7: [b"4242", b"3", b"5"]})
    assert (target.read_bytes(), other.read_bytes()) == (b"kept", b"kept too")
    answer = tmp_path / "go.7"
    assert not answer.is_symlink() and answer.read_bytes() == b"4242 3 5"
    assert not (tmp_path / ".go.7").exists()


def test_a_holding_thread_is_read_from_its_board(tmp_path: Path) -> None:
    slot = supervise.BOARD_SLOT
    board = b"4242 9 -".ljust(slot - 1) + b"\n"
    board += b"101 w".ljust(slot - 1) + b"\n" + b"102 d 3".ljust(slot - 1) + b"\n"
    (tmp_path / "7").write_bytes(board.ljust(4096, b"\0"))
    holds: dict[int, list[bytes]] = {}
    marks = supervise._board_of(7, b"4242", str(tmp_path), {}, holds)
    assert marks is not None and (marks[b"101"], marks[b"102"]) == (b"w", b"d")
    assert holds == {7: [b"4242", b"3"]}


#: a process that watches twice: five looks (the first one uncounted), then a new watch,
#: whose first look is followed by one more; each look's board entry is printed
TWO_WATCHES = """
import sys
import _ipcgrader_trace as harness

harness.install(sys.argv[1], sys.argv[2], sys.argv[2])
seen = []

def look(slot):
    slot = harness.watched(slot)
    with open(f"{sys.argv[2]}/{harness.pid()}", "rb") as board:
        seen.append(board.read()[slot * 64 : (slot + 1) * 64].split()[1:])
    return slot

slot = 0
for _ in range(5):
    slot = look(slot)
harness.unwatched(slot)
slot = look(look(0))
print(seen)
"""


def test_a_second_watch_counts_looks_on_from_the_first_ones(tmp_path: Path) -> None:
    # the supervisor wants two looks after its first sample; the first look of a new watch
    # published 0 while the next one published the process's count, which read as every
    # look of the earlier watch made at once
    boards = tmp_path / "boards"
    boards.mkdir()
    shown = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(INJECT_DIR)!r})\n"
         + TWO_WATCHES, str(tmp_path / "trace.jsonl"), str(boards)],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    looks = [int(entry[1]) for entry in ast.literal_eval(shown)]  # [[b"o", b"<looks>"], ...]
    assert looks == [0, 1, 2, 3, 4, 4, 5]


def test_a_deadlock_keeps_what_the_supervisor_saw() -> None:
    # a false deadlock is rare and never comes back on demand: the stop keeps its evidence
    snapshot = (
        (2, [(b"", b"2"), (b"!", b"-"), (b"2", b"o")], [None]),
        (3, [(b"", b"11"), (b"!", b"-"), (b"3", b"w"), (b"4", b"h")], [b"1 2 3\n", b"4 5 6\n"]),
    )
    text = supervise.describe_stuck(snapshot, {(2, b"2"): 24}, {(2, b"2"): 31}, 0.0501)
    assert text == "2 [2 -]: 2 o (looks 24->31); 3 [11 -]: 3 w, 4 h (samples 0.050 s apart)"
