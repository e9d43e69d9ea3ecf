"""The harness inside real processes: what it records, and that it changes nothing else.

Each test runs a small program with the harness first on PYTHONPATH, the way a graded run
does (without the sandbox), and reads the trace it left.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.checks.trace_checks import NoRace
from ipcgrader.harness_plugin import INJECT_DIR
from ipcgrader.sandbox import precompile
from ipcgrader.trace import (
    Trace,
    atomicity_violations,
    crashed_children,
    find_races,
    read_trace,
)
from ipcgrader.trace.analyses import last_accesses


@pytest.fixture(scope="module", autouse=True)
def _compiled_harness() -> None:
    precompile(INJECT_DIR)


def run(
    tmp_path: Path,
    source: str,
    *,
    method: str = "fork",
    harness: bool = True,
    amplify: bool = False,
    amplify_wait: str = "2",
    trace_file: Path | None = None,
) -> tuple[Trace, subprocess.CompletedProcess[str]]:
    """Run ``source`` as prog.py in a fresh folder holding data.json ({"count": 0})."""
    work = tmp_path / f"work-{method}-{harness}"
    meta = tmp_path / f"meta-{method}-{harness}"
    work.mkdir()
    meta.mkdir()
    (work / "prog.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (work / "data.json").write_text('{"count": 0}', encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "utf-8",
    }
    trace_path = trace_file or meta / "trace.jsonl"
    if harness:
        env.update(
            PYTHONPATH=str(INJECT_DIR),
            IPCGRADER_WORKDIR=str(work),
            IPCGRADER_TRACE=str(trace_path),
            IPCGRADER_SHARED="data.json",
            IPCGRADER_ATOMIC_WRITES="1",
            IPCGRADER_DILATION="0.01",
            IPCGRADER_START_METHOD=method,
        )
        if amplify:
            (meta / "amplify").mkdir()
            env.update(
                IPCGRADER_AMPLIFY_DIR=str(meta / "amplify"), IPCGRADER_AMPLIFY_WAIT=amplify_wait
            )
    done = subprocess.run(
        [sys.executable, "prog.py"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    return read_trace(trace_path), done


def kinds(trace: Trace, kind: str) -> list[Any]:
    return [e for e in trace.events if e.kind == kind]


LOCKED_COUNTER = """\
    import json
    import multiprocessing as mp


    def work(lock):
        with lock:
            with open("data.json") as f:
                data = json.load(f)
            data["count"] += 1
            with open("data.json", "w") as f:
                json.dump(data, f)


    if __name__ == "__main__":
        lock = mp.Lock()
        workers = [mp.Process(target=work, args=(lock,)) for _ in range(2)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        print(open("data.json").read())
"""


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_lock_identity_is_the_same_in_every_process(tmp_path: Path, method: str) -> None:
    trace, done = run(tmp_path, LOCKED_COUNTER, method=method)
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{"count": 2}\n'
    assert trace.complete, trace.problems
    created = kinds(trace, "lock_new")
    assert [(e.get("lock"), e.line) for e in created] == [("Lock", 15)]
    tag = created[0].obj
    workers = trace.workers()
    assert len(workers) == 2
    for worker in workers:
        acquired = [e for e in worker.events if e.kind == "acquired"]
        assert [e.obj for e in acquired] == [tag]
        assert acquired[0].where == "prog.py:6"
        ops = [(e.kind, e.line) for e in worker.events if e.kind in ("read", "write")]
        assert ops == [("read", 7), ("write", 10)]
    assert find_races(trace, "data.json") == []
    assert atomicity_violations(trace, "data.json") == []


@pytest.mark.parametrize(
    ("factory", "kind", "protects"),
    [
        ("mp.RLock()", "RLock", True),
        ("mp.Condition()", "Condition", True),
        ("mp.Semaphore(1)", "Semaphore", True),
        ("mp.BoundedSemaphore(2)", "BoundedSemaphore", False),
    ],
)
def test_every_multiprocessing_lock_kind(
    tmp_path: Path, factory: str, kind: str, protects: bool
) -> None:
    # nested `with` (re-entrant for RLock/Condition, a second holder for the semaphores
    # would block: nest only where it is allowed)
    nested = kind in ("RLock", "Condition")
    source = LOCKED_COUNTER.replace("lock = mp.Lock()", f"lock = {factory}")
    if nested:
        source = source.replace("    with lock:\n", "    with lock, lock:\n")
    trace, done = run(tmp_path, source)
    # a Semaphore(2) lets both in: the update may really be lost
    allowed = ['{"count": 2}\n'] if protects else ['{"count": 1}\n', '{"count": 2}\n']
    assert done.stdout in allowed, done.stderr
    assert trace.complete, trace.problems
    [created] = kinds(trace, "lock_new")
    assert created.get("lock") == kind
    assert {e.obj for e in kinds(trace, "acquired")} == {created.obj}
    assert len(kinds(trace, "acquired")) == (4 if nested else 2)
    assert bool(find_races(trace, "data.json")) is not protects


def test_threading_lock_does_not_count_across_processes(tmp_path: Path) -> None:
    source = LOCKED_COUNTER.replace("lock = mp.Lock()", "lock = threading.Lock()").replace(
        "import json\n", "import json\n    import threading\n"
    )
    trace, done = run(tmp_path, source)
    assert done.returncode == 0, done.stderr
    [created] = kinds(trace, "lock_new")
    assert created.get("lock") == "threading.Lock"
    assert not trace.lock(created.obj or "").process_shared
    assert find_races(trace, "data.json")
    expectation = NoRace.model_validate({"kind": "no_race", "file": "data.json"})
    verdict = expectation.judge_trace(trace, None)  # type: ignore[arg-type]
    assert verdict.passed is False
    assert [d.kind for d in verdict.diagnostics] == ["thread_lock"]
    assert "threading.Lock (created at line 16)" in verdict.message


def test_exits_and_uncaught_exceptions_of_children(tmp_path: Path) -> None:
    trace, done = run(
        tmp_path,
        """\
        import multiprocessing as mp
        import sys


        def crash():
            raise ValueError("bad ticket")


        def leave():
            sys.exit(3)


        if __name__ == "__main__":
            for target in (crash, leave, print):
                p = mp.Process(target=target)
                p.start()
                p.join()
            print("main done")
        """,
    )
    assert done.returncode == 0
    assert trace.complete, trace.problems
    by_target = {p.target: p for p in trace.workers()}
    assert by_target["crash"].exitcode == 1
    assert by_target["crash"].exception == {
        "type": "ValueError",
        "message": "bad ticket",
        "file": "prog.py",
        "line": 6,
    }
    assert by_target["leave"].exitcode == 3 and by_target["leave"].exception is None
    assert by_target["print"].exitcode == 0
    assert {p.target for p in crashed_children(trace)} == {"crash", "leave"}
    root = trace.root()
    assert root is not None and root.exit is not None


PRINTERS = """\
    import multiprocessing as mp


    def talk(n):
        for i in range(60):
            print(f"{n} line {i}")


    if __name__ == "__main__":
        workers = [mp.Process(target=talk, args=(n,)) for n in range(4)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        print("partial", end="")
        print(" line")
        print("no newline at the end", end="")
"""


def test_output_is_line_atomic_and_recorded_with_pids(tmp_path: Path) -> None:
    trace, done = run(tmp_path, PRINTERS)
    lines = done.stdout.split("\n")
    assert lines[-2:] == ["partial line", "no newline at the end"]
    body = lines[:-2]
    assert len(body) == 240
    assert all(re.fullmatch(r"\d line \d+", line) for line in body), "glued lines"
    events = trace.output("stdout")
    assert len(events) == 242
    pid_of = {p.pid: int(p.name.split("-")[1]) - 1 for p in trace.workers() if p.name}
    for event in events[:240]:
        assert int(event.get("text").split()[0]) == pid_of[event.pid]
    assert events[-1].get("text") == "no newline at the end" and events[-1].get("partial")


def test_a_correct_program_prints_the_same_with_and_without_the_harness(
    tmp_path: Path,
) -> None:
    serial = PRINTERS.replace(
        "p.start()\n        for p in workers:\n            p.join()",
        "p.start()\n            p.join()",
    )
    assert serial.count("p.join()") == 1
    _, traced = run(tmp_path, serial)
    _, plain = run(tmp_path, serial, harness=False)
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout
    assert traced.stderr == plain.stderr == ""


def test_queue_and_pipe_events_keep_their_identity_under_spawn(tmp_path: Path) -> None:
    trace, done = run(
        tmp_path,
        """\
        import multiprocessing as mp
        import queue


        def child(q, conn):
            q.put("from child")
            conn.send(conn.recv() + 1)


        if __name__ == "__main__":
            q = mp.Queue(1)
            mine, theirs = mp.Pipe()
            p = mp.Process(target=child, args=(q, theirs))
            p.start()
            mine.send(41)
            print(mine.recv(), q.get())
            q.put(1)
            try:
                q.put(2, block=False)
            except queue.Full:
                print("full")
            q.get()
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                print("empty")
            p.join()
        """,
        method="spawn",
    )
    assert done.stdout == "42 from child\nfull\nempty\n", done.stderr
    assert trace.complete, trace.problems
    [queue_new] = kinds(trace, "queue_new")
    assert queue_new.get("maxsize") == 1 and queue_new.line == 11
    [child] = trace.workers()
    assert [e.obj for e in child.events if e.kind == "put"] == [queue_new.obj]
    outcomes = [(e.kind, e.get("outcome")) for e in trace.events if e.kind.endswith("_done")]
    assert ("put_done", "Full") in outcomes and ("get_done", "Empty") in outcomes
    [pipe] = kinds(trace, "pipe_new")
    pipe_events = [
        (e.pid == child.pid, e.kind, e.get("end")) for e in trace.events if e.obj == pipe.obj
    ]
    assert (True, "recv", 1) in pipe_events and (False, "send", 0) in pipe_events


def test_file_locks_are_locks_released_when_closed(tmp_path: Path) -> None:
    trace, done = run(
        tmp_path,
        """\
        import fcntl
        import json
        import multiprocessing as mp


        def work():
            with open("lock", "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                with open("data.json") as f:
                    data = json.load(f)
                data["count"] += 1
                with open("data.json", "w") as f:
                    json.dump(data, f)
            print("done")


        if __name__ == "__main__":
            workers = [mp.Process(target=work) for _ in range(3)]
            for p in workers:
                p.start()
            for p in workers:
                p.join()
            print(open("data.json").read())
        """,
    )
    assert done.stdout.endswith('{"count": 3}\n'), done.stderr
    assert trace.complete, trace.problems
    tags = {e.obj for e in kinds(trace, "acquired")}
    assert len(tags) == 1 and next(iter(tags)).startswith("F")
    assert trace.lock(next(iter(tags))).kind == "flock"
    released = kinds(trace, "release")
    assert len(released) == 3 and all(e.get("implicit") for e in released)
    assert find_races(trace, "data.json") == []
    assert atomicity_violations(trace, "data.json") == []


def test_manager_lock_proxies_have_one_identity(tmp_path: Path) -> None:
    trace, done = run(
        tmp_path,
        LOCKED_COUNTER.replace(
            "lock = mp.Lock()", "manager = mp.Manager()\n        lock = manager.Lock()"
        ),
    )
    assert done.stdout == '{"count": 2}\n', done.stderr
    assert trace.complete, trace.problems
    tags = {e.obj for e in kinds(trace, "acquired")}
    assert len(tags) == 1 and next(iter(tags)).startswith("M")
    assert "manager" in {p.role for p in trace.processes.values()}
    assert find_races(trace, "data.json") == []


def test_every_way_of_touching_a_shared_file_is_recorded(tmp_path: Path) -> None:
    trace, done = run(
        tmp_path,
        """\
        import os
        from pathlib import Path

        with open("data.json", "w") as f:
            f.write('{"count": 1}')
        Path("tmp.json").write_text('{"count": 2}')
        os.replace("tmp.json", "data.json")
        os.close(os.open("data.json", os.O_RDONLY))
        print(Path("data.json").read_text())
        print(sorted(os.listdir(".")))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "{\"count\": 2}\n['data.json', 'prog.py']\n"  # no temporary left
    ops = [(e.kind, e.line, e.get("mode")) for e in trace.events if e.obj == "data.json"]
    assert ops == [("write", 4, "w"), ("write", 7, "rename"), ("read", 8, None), ("read", 9, "r")]


def test_amplification_turns_an_unprotected_update_into_a_lost_update(
    tmp_path: Path,
) -> None:
    source = LOCKED_COUNTER.replace("    with lock:\n", "    if True:  # no lock\n")
    trace, done = run(tmp_path, source, amplify=True)
    assert done.stdout == '{"count": 1}\n', done.stderr  # both read 0, both wrote 1
    meetings = kinds(trace, "meet")
    assert len(meetings) == 2 and all(e.get("met") for e in meetings)
    assert find_races(trace, "data.json")


def test_amplified_polls_find_nothing_until_a_taker_asks(tmp_path: Path) -> None:
    # the producer has put and sent long before main() looks (0.3 s of real time), yet
    # main's first looks find nothing: items are held until a taker asks for them
    trace, done = run(
        tmp_path,
        """\
        import multiprocessing as mp
        import threading


        def producer(q, conn):
            for item in range(3):
                q.put(item)
            conn.send("a")


        if __name__ == "__main__":
            q = mp.Queue()
            mine, theirs = mp.Pipe()
            p = mp.Process(target=producer, args=(q, theirs))
            p.start()
            threading.Event().wait(0.3)
            print(q.empty(), mine.poll())
            print([q.get() for _ in range(3)], mine.recv())
            p.join()
        """,
        amplify=True,
        # a bound never reached: main() asks 0.3 s after the start, but on a loaded
        # machine 2 s can pass before it runs again (then the items go through unheld)
        amplify_wait="60",
    )
    assert done.stdout == "True False\n[0, 1, 2] a\n", done.stderr
    looks = [(e.get("method"), e.get("empty"), e.line) for e in kinds(trace, "poll")]
    assert looks == [("empty", True, 17), ("poll", True, 17)]


def test_amplified_timed_takes_and_qsize_answer_from_what_was_let_through(
    tmp_path: Path,
) -> None:
    # with nothing let through yet, a timed get or poll of the student's answers at once
    # (it would otherwise wait 30 s and get the item) and asks; qsize() counts what was let
    # through; after a sleep, a timed get waits as before
    trace, done = run(
        tmp_path,
        """\
        import multiprocessing as mp
        import os
        import queue
        import threading
        import time


        def producer(q, conn):
            for item in range(2):
                q.put(item)
            open("put", "w").close()
            conn.send("a")


        if __name__ == "__main__":
            q = mp.Queue()
            mine, theirs = mp.Pipe()
            p = mp.Process(target=producer, args=(q, theirs))
            p.start()
            while not os.path.exists("put"):  # however loaded the machine
                threading.Event().wait(0.01)
            try:
                q.get(timeout=30)
            except queue.Empty:
                print("Empty")
            print(q.qsize(), mine.poll(30), mine.poll(30), mine.recv())
            time.sleep(0.1)
            print([q.get(timeout=30), q.get(True, 30)])
            p.join()
        """,
        amplify=True,
        amplify_wait="60",  # as above: never reached
    )
    assert done.stdout == "Empty\n1 False True a\n[0, 1]\n", done.stderr
    gets = [(e.line, e.get("outcome")) for e in kinds(trace, "get_done")]
    assert gets == [(23, "Empty"), (28, "ok"), (28, "ok")]
    looks = [(e.get("method"), e.get("empty"), e.get("timeout")) for e in kinds(trace, "poll")]
    assert looks == [("qsize", False, None), ("poll", True, 30), ("poll", False, 30)]


def test_amplification_meets_when_the_lock_is_released_before_the_write(
    tmp_path: Path,
) -> None:
    """The read is protected, but the lock is let go before the value is written back:
    both workers meet there, so both read 0 and both write 1, in every run."""
    source = LOCKED_COUNTER.replace(
        '            data["count"] += 1\n',
        '        data["count"] += 1\n        with lock:\n',
    )
    assert source.count("with lock:") == 2
    trace, done = run(tmp_path, source, amplify=True)
    assert done.stdout == '{"count": 1}\n', done.stderr
    meetings = kinds(trace, "meet")
    assert len(meetings) == 2 and all(e.get("met") for e in meetings)
    assert find_races(trace, "data.json") == []  # locked every time: atomicity, not a race
    assert atomicity_violations(trace, "data.json")


def test_a_broken_trace_path_does_not_break_the_program(tmp_path: Path) -> None:
    trace, done = run(tmp_path, LOCKED_COUNTER, trace_file=tmp_path / "missing" / "t.jsonl")
    assert done.returncode == 0
    assert done.stdout == '{"count": 2}\n'
    assert "ipcgrader harness" in done.stderr
    assert not trace.complete


STATE_COUNTER = """\
    import multiprocessing as mp


    def work(state, lock):
        for _ in range(3):
            if lock is not None:
                with lock:
                    UPDATE
            else:
                UPDATE


    if __name__ == "__main__":
        manager = mp.Manager() if "MANAGER" else None
        state = MAKE
        lock = LOCK
        workers = [mp.Process(target=work, args=(state, lock)) for _ in range(2)]
        for p in workers:
            p.start()
        for p in workers:
            p.join()
        print(READ)
"""

#: how it is made -> (its kind, one update, the final read, its lock when the program locks)
STATES = {
    "mp.Value('i', 0)": ("Value", "state.value += 1", "state.value", "state.get_lock()"),
    "mp.Array('i', 2)": ("Array", "state[0] += 1", "state[0]", "state.get_lock()"),
    "manager.dict(count=0)": (
        "Manager.dict",
        "state['count'] += 1",
        "state['count']",
        "manager.Lock()",
    ),
    "manager.Value('i', 0)": ("Manager.Value", "state.value += 1", "state.value", "mp.Lock()"),
    # plain ctypes objects in shared memory, no lock of their own: the same kinds
    "mp.Value('i', 0, lock=False)": ("Value", "state.value += 1", "state.value", "mp.Lock()"),
    "mp.RawArray('i', 2)": ("Array", "state[-2] += 1", "state[:][0]", "mp.Lock()"),
}


@pytest.mark.parametrize("make", sorted(STATES))
def test_values_arrays_and_manager_state_are_traced_as_shared_state(
    tmp_path: Path, make: str
) -> None:
    kind, update, read, lock = STATES[make]
    source = (
        STATE_COUNTER.replace("MAKE", make)
        .replace("UPDATE", update)
        .replace("READ", read)
        .replace('"MANAGER"', "True" if make.startswith("manager") else "False")
    )
    (tmp_path / "racy").mkdir()
    (tmp_path / "locked").mkdir()
    racy, done = run(tmp_path / "racy", source.replace("LOCK", "None"))
    assert done.returncode == 0, done.stderr
    assert racy.complete, racy.problems
    assert find_races(racy, kind), "an unlocked update is a race"
    assert atomicity_violations(racy, kind)
    locked, done = run(tmp_path / "locked", source.replace("LOCK", lock))
    assert done.stdout.strip() == "6", done.stderr
    assert locked.complete, locked.problems
    assert find_races(locked, kind) == []
    assert atomicity_violations(locked, kind) == []
    # what final_state judges: the value of the last access (the main's read after join)
    key = {"Array": "0", "Manager.dict": "'count'"}.get(kind)
    last = last_accesses(locked, kind, key)
    assert [access.event.get("value") for access in last.values()] == [6]
    assert {access.event.get("state") for access in last.values()} == {kind}


RAW_UNDER_SPAWN = """\
import ctypes
import multiprocessing as mp
from multiprocessing.sharedctypes import RawValue, copy


def work(sold, left, lock, unlocked):
    if unlocked:
        sold.value  # a look without the lock: a race in the trace, the same output every time
    else:
        with lock:
            sold.value += 1
            left[:] = [n - 1 for n in left]


if __name__ == "__main__":
    mp.set_start_method("spawn")
    sold = copy(RawValue("i", 0))  # a copy is new shared memory, traced too
    left = mp.Array(ctypes.c_int, [5, 7], lock=False)
    print(type(sold), isinstance(sold, ctypes.c_int), repr(sold), type(left).__name__, len(left))
    lock = mp.Lock()
    workers = [mp.Process(target=work, args=(sold, left, lock, i == 2)) for i in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
    print(sold.value, list(left), left[-1], left[0:1])
"""


def test_raw_shared_memory_is_traced_under_spawn_and_behaves_as_the_original(
    tmp_path: Path,
) -> None:
    """RawValue and Array(lock=False) reach spawn children traced, and student code sees
    the ctypes objects it would see without the harness: type, repr, len, slicing."""
    trace, done = run(tmp_path, RAW_UNDER_SPAWN, method="spawn")
    _, untraced = run(tmp_path, RAW_UNDER_SPAWN, method="spawn", harness=False)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout
        == untraced.stdout
        == ("<class 'ctypes.c_int'> True c_int(0) c_int_Array_2 2\n2 [3, 5] 5 [3]\n")
    ), untraced.stderr
    assert trace.complete, trace.problems
    # the unlocked worker's look races with the locked ones' updates of sold (it only reads,
    # so what the program prints does not depend on timing); left[:] is locked every time
    races = find_races(trace, "Value")
    assert races and {races[0].first.line, races[0].second.line} == {8, 11}
    assert find_races(trace, "Array") == []
    # left[:] = ... is a read and a write of each element; list(left) reads each one
    last = last_accesses(trace, "Array")
    assert sorted(a.event.get("value") for a in last.values()) == [3, 5]
    assert {a.event.obj.partition("[")[2] for a in last.values()} == {"0]", "1]"}
    assert [a.event.get("value") for a in last_accesses(trace, "Value").values()] == [2]


MANAGER_UNDER_SPAWN = """\
import multiprocessing as mp


def work(counts, lock):
    with lock:
        counts["n"] = counts.get("n", 0) + 1


if __name__ == "__main__":
    manager = mp.Manager()
    counts = manager.dict()
    lock = mp.Lock()
    workers = [mp.Process(target=work, args=(counts, lock)) for _ in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join()
"""


def test_a_manager_starts_under_spawn_in_a_graded_run(ipcgrade: Any, tmp_path: Path) -> None:
    """A graded run is forked from a warm interpreter that imported multiprocessing.managers
    before the harness replaced threading.RLock: the Manager's registry, pickled by
    reference for its spawned server, must still pickle; final_state reads the counter."""
    exercise = tmp_path / "counter"
    exercise.mkdir()
    (exercise / "prog.py").write_text(MANAGER_UNDER_SPAWN, encoding="utf-8")
    (exercise / "exercise.toml").write_text(
        textwrap.dedent(
            """\
            id = "counter"
            title = "counter"
            entry = ["prog.py"]
            start_methods = ["spawn"]

            [[scenarios]]
            id = "run"

              [[scenarios.expect]]
              kind = "exit_code"

              [[scenarios.expect]]
              kind = "final_state"
              state = "Manager.dict"
              key = "n"
              expected = 2

              [[scenarios.expect]]
              kind = "no_race"
              file = "Manager.dict"
            """
        ),
        encoding="utf-8",
    )
    result = ipcgrade(exercise, timeout=60)
    assert result.status.value == "passed", {c.id: c.message for c in result.checks}
