"""The trace analyses on small hand-written traces (no processes are started)."""

from __future__ import annotations

import json
from typing import Any

from ipcgrader.trace import (
    accesses,
    atomicity_violations,
    crashed_children,
    diagnose_hang,
    find_races,
    overlapping_workers,
    parse_trace,
    serialised_workers,
    unused_locks,
)
from ipcgrader.trace.events import Trace

LOCK = "L1.1"


class Recorder:
    """Builds trace lines: one clock for all processes, a seq counter per process."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.seq: dict[int, int] = {}
        self.t = 0.0

    def __call__(self, pid: int, kind: str, obj: str | None = None, **fields: Any) -> None:
        self.t += 1.0
        seq = self.seq.get(pid, 0)
        self.seq[pid] = seq + 1
        event = {"pid": pid, "ppid": 1 if pid != 1 else 0, "seq": seq, "t": self.t, "kind": kind}
        if obj is not None:
            event["obj"] = obj
        if "line" in fields:
            event["file"] = "ticket.py"
        event.update(fields)
        self.lines.append(json.dumps(event))

    def trace(self) -> Trace:
        return parse_trace(self.lines)


def buyers(pattern: str, count: int = 2, ticket_lock: bool = True) -> Recorder:
    """A main process (pid 1) that creates a lock, starts ``count`` buyers and joins them;
    each buyer runs ``pattern``: letters r (read), w (write), a (acquire), x (release),
    s (a read-only search read, no lock)."""
    ev = Recorder()
    ev(1, "proc", role="main")
    if ticket_lock:
        ev(1, "lock_new", LOCK, lock="Lock", value=1, line=36)
    ev(1, "write", "ticket.json", line=40)  # set-up before start(): not a race
    children = list(range(2, 2 + count))
    for pid in children:
        ev(1, "start", child=pid, name=f"Process-{pid - 1}")
    for pid in children:
        ev(pid, "proc", role="forked")
        ev(pid, "run", name=f"Process-{pid - 1}", target="task")
    lines = {"s": 12, "r": 20, "w": 25, "a": 30, "x": 30}
    for step in pattern:
        for pid in children:  # interleaved, step by step
            if step in "rs":
                ev(pid, "read", "ticket.json", line=lines[step], mode="r")
            elif step == "w":
                ev(pid, "write", "ticket.json", line=25, mode="w")
            elif step == "a":
                ev(pid, "acquire", LOCK, line=30, block=True)
                ev(pid, "acquired", LOCK, line=30, ok=True)
            elif step == "x":
                ev(pid, "release", LOCK, line=30)
    for pid in children:
        ev(pid, "exit", code=0, exc=None)
    for pid in children:
        ev(1, "join", child=pid)
        ev(1, "joined", child=pid, exitcode=0)
    ev(1, "read", "ticket.json", line=45)  # after join: not a race either
    ev(1, "exit", code=None, exc=None)
    return ev


def test_unlocked_read_modify_write_is_a_race_and_not_atomic() -> None:
    trace = buyers("rw").trace()
    assert trace.complete, trace.problems
    races = find_races(trace, "ticket.json")
    assert races
    assert {races[0].first.pid, races[0].second.pid} == {2, 3}
    violations = atomicity_violations(trace, "ticket.json")
    assert [v.reason for v in violations] == ["read_unlocked", "read_unlocked"]
    assert (violations[0].read.line, violations[0].write.line) == (20, 25)


def test_locked_read_modify_write_passes_with_unlocked_search() -> None:
    trace = buyers("sarwx").trace()
    assert find_races(trace, "ticket.json", ignore_read_only=True) == []
    assert atomicity_violations(trace, "ticket.json") == []
    # without ignore_read_only the unlocked search read races with the locked writes
    assert find_races(trace, "ticket.json", ignore_read_only=False)


def test_parent_setup_and_reads_after_join_are_ordered() -> None:
    trace = buyers("arwx").trace()
    setup = next(e for e in trace.events if e.kind == "write" and e.pid == 1)
    after = [e for e in trace.events if e.kind == "read" and e.pid == 1][-1]
    child = next(e for e in trace.events if e.kind == "write" and e.pid == 2)
    assert trace.happens_before(setup, child)
    assert trace.happens_before(child, after)
    assert not trace.happens_before(child, setup)


def test_lock_released_between_read_and_write_is_an_atomicity_violation() -> None:
    trace = buyers("arxaw x".replace(" ", "")).trace()
    assert find_races(trace, "ticket.json", ignore_read_only=True) == []  # lockset holds
    violations = atomicity_violations(trace, "ticket.json")
    assert violations and violations[0].reason == "released"
    assert violations[0].released is not None and violations[0].lock == LOCK


def test_read_outside_write_inside_is_a_race() -> None:
    trace = buyers("rawx").trace()
    races = find_races(trace, "ticket.json", ignore_read_only=True)
    assert races
    assert atomicity_violations(trace, "ticket.json")[0].reason == "read_unlocked"


def test_threading_lock_and_counting_semaphore_do_not_protect() -> None:
    for tag, kind, value in (("T1.1", "threading.Lock", 1), ("S1.1", "Semaphore", 2)):
        ev = buyers("", ticket_lock=False)
        ev.lines = ev.lines[:1]
        ev.seq = {1: 1}
        ev(1, "lock_new", tag, lock=kind, value=value, line=36)
        for pid in (2, 3):
            ev(1, "start", child=pid)
        for pid in (2, 3):
            ev(pid, "proc", role="forked")
            ev(pid, "run", name="p", target="task")
            ev(pid, "acquired", tag, line=30, ok=True)
            ev(pid, "read", "ticket.json", line=20)
        for pid in (2, 3):
            ev(pid, "write", "ticket.json", line=25)
            ev(pid, "release", tag, line=30)
            ev(pid, "exit", code=0)
        for pid in (2, 3):
            ev(1, "joined", child=pid, exitcode=0)
        ev(1, "exit", code=None)
        trace = ev.trace()
        assert trace.complete, trace.problems
        assert find_races(trace, "ticket.json"), kind
        assert atomicity_violations(trace, "ticket.json"), kind


def test_a_lock_per_process_does_not_protect() -> None:
    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in (2, 3):
        ev(1, "start", child=pid)
    for pid in (2, 3):
        ev(pid, "proc", role="forked")
        ev(pid, "lock_new", f"L{pid}.1", lock="Lock", value=1, line=31)
        ev(pid, "acquired", f"L{pid}.1", line=32, ok=True)
        ev(pid, "read", "ticket.json", line=20)
        ev(pid, "write", "ticket.json", line=25)
        ev(pid, "release", f"L{pid}.1", line=32)
        ev(pid, "exit", code=0)
    for pid in (2, 3):
        ev(1, "joined", child=pid, exitcode=0)
    ev(1, "exit", code=None)
    trace = ev.trace()
    assert find_races(trace, "ticket.json")
    assert atomicity_violations(trace, "ticket.json") == []


def test_file_lock_released_by_close_then_retaken_counts_once() -> None:
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "start", child=2)
    ev(2, "proc", role="forked")
    for _ in range(2):
        ev(2, "acquired", "F1:2", line=20, ok=True, mode="ex")
        ev(2, "acquired", "F1:2", line=20, ok=True, mode="ex")  # re-flock: no nesting
        ev(2, "read", "ticket.json", line=21)
        ev(2, "write", "ticket.json", line=24)
        ev(2, "release", "F1:2", implicit=True)
    ev(2, "read", "ticket.json", line=30)
    ev(2, "exit", code=0)
    ev(1, "joined", child=2, exitcode=0)
    ev(1, "exit", code=None)
    trace = ev.trace()
    assert accesses(trace, "ticket.json")[-1].held == {}
    assert atomicity_violations(trace, "ticket.json") == []


def test_serialised_workers_and_overlap() -> None:
    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in (2, 3):
        ev(1, "start", child=pid, line=40)
        ev(pid, "proc", role="forked")
        ev(pid, "run", name="p", target="task")
        ev(pid, "exit", code=0)
        ev(1, "join", child=pid, line=41)
        ev(1, "joined", child=pid, exitcode=0, line=41)
    ev(1, "exit", code=None)
    trace = ev.trace()
    assert overlapping_workers(trace) == []
    assert [(a.pid, b.pid) for a, b in serialised_workers(trace)] == [(2, 3)]
    assert overlapping_workers(buyers("r").trace())


def test_crashed_children_and_unused_locks() -> None:
    ev = buyers("r")
    text = ev.lines
    crashed = [
        line.replace('"exc": null', '"exc": {"type": "KeyError", "message": "x", "line": 9}')
        if '"pid": 2' in line and '"exit"' in line
        else line
        for line in text
    ]
    trace = parse_trace(crashed)
    assert [p.pid for p in crashed_children(trace)] == [2]
    assert [info.tag for info in unused_locks(trace)] == [LOCK]


def test_incomplete_traces_say_why() -> None:
    ev = buyers("rw")
    without_exit = [line for line in ev.lines if not ('"pid": 3' in line and '"exit"' in line)]
    never_joined = [
        line for line in without_exit if not ('"child": 3' in line and "joined" in line)
    ]
    assert any("process 3" in p for p in parse_trace(never_joined).problems)
    cut = [*ev.lines[:-1], ev.lines[-1][:20]]
    assert any("not events" in p for p in parse_trace(cut).problems)
    gap = ev.lines[:5] + ev.lines[6:]
    assert not parse_trace(gap).complete
    assert parse_trace([]).problems
    # a child whose exit code its parent learnt is finished even without an exit event
    killed = [
        line.replace('"exitcode": 0', '"exitcode": -9') if '"child": 3' in line else line
        for line in without_exit
    ]
    assert parse_trace(killed).complete


def test_hang_diagnosis_names_the_lines() -> None:
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "lock_new", LOCK, lock="Lock", value=1)
    for pid in (2, 3, 4):
        ev(1, "start", child=pid)
    ev(1, "join", child=2)
    # 2 takes the lock twice; 3 waits for it; 4 gets from an empty queue
    ev(2, "proc", role="forked")
    ev(2, "run", name="a", target="task")
    ev(2, "acquire", LOCK, line=26)
    ev(2, "acquired", LOCK, line=26, ok=True)
    ev(2, "acquire", LOCK, line=27)
    ev(3, "proc", role="forked")
    ev(3, "run", name="b", target="task")
    ev(3, "acquire", LOCK, line=26)
    ev(4, "proc", role="forked")
    ev(4, "run", name="c", target="task")
    ev(4, "queue_new", "Q4.1", line=8, maxsize=3)
    ev(4, "get", "Q4.1", line=12, block=True)
    trace = ev.trace()
    assert not trace.complete
    found = {d.kind: d for d in diagnose_hang(trace)}
    assert found["hang_self_deadlock"].line == 27
    assert "acquired at line 26" in found["hang_self_deadlock"].message
    assert found["hang_lock_wait"].line == 26
    assert "stuck at line 27" in found["hang_lock_wait"].message
    assert found["hang_queue_get"].line == 12
    assert "hang_join" not in found  # the join is in no student file


def test_hang_of_a_live_lock_holder_invents_no_deadlock() -> None:
    """A holder still running (slow, or looping with the lock held) is said to be running,
    not to 'never release' the lock, and gets no hint about two locks."""
    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in (2, 3):
        ev(1, "start", child=pid)
    ev(2, "proc", role="forked")
    ev(2, "run", name="a", target="task")
    ev(2, "acquired", LOCK, line=28, ok=True)
    ev(2, "sleep", line=30)
    ev(3, "proc", role="forked")
    ev(3, "run", name="b", target="task")
    ev(3, "acquire", LOCK, line=28)
    (wait,) = [d for d in diagnose_hang(ev.trace()) if d.kind == "hang_lock_wait"]
    assert "sleeping at line 30 with the lock held" in wait.message and "line 28" in wait.message
    assert "never" not in wait.message
    assert wait.hint is not None and "two" not in wait.hint.lower()


def test_hang_lock_never_released() -> None:
    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in (2, 3):
        ev(1, "start", child=pid)
    ev(2, "proc", role="forked")
    ev(2, "run", name="a", target="task")
    ev(2, "acquired", LOCK, line=28, ok=True)
    ev(2, "exit", code=0)
    ev(3, "proc", role="forked")
    ev(3, "run", name="b", target="task")
    ev(3, "acquire", LOCK, line=28)
    ev(1, "join", child=3, line=47)
    found = diagnose_hang(ev.trace())
    kinds = [d.kind for d in found]
    assert "hang_lock_never_released" in kinds and "hang_join" in kinds
    never = found[kinds.index("hang_lock_never_released")]
    assert "acquired at line 28 by a process that ended without releasing it" in never.message


def _helper_buyers(search_locked: bool, paid_locked: bool) -> Trace:
    """Two buyers whose every read goes through one helper, read_count() (line 10):
    search() calls it at line 15 (a look), paid() at line 22 and writes back at line 25."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "lock_new", LOCK, lock="Lock", value=1, line=36)
    for pid in (2, 3):
        ev(1, "start", child=pid, name=f"Process-{pid - 1}")
    for pid in (2, 3):
        ev(pid, "proc", role="forked")
        ev(pid, "run", name=f"Process-{pid - 1}", target="task")

    def locked(pid: int, on: bool, *steps: tuple[str, int, list[str]]) -> None:
        if on:
            ev(pid, "acquire", LOCK, line=30, block=True)
            ev(pid, "acquired", LOCK, line=30, ok=True)
        for kind, line, stack in steps:
            ev(
                pid,
                kind,
                "ticket.json",
                line=line,
                mode="r" if kind == "read" else "w",
                stack=stack,
            )
        if on:
            ev(pid, "release", LOCK, line=30)

    for pid in (2, 3):
        locked(pid, search_locked, ("read", 10, ["ticket.py:10", "ticket.py:15", "ticket.py:30"]))
    # buyer 2 buys the last ticket; buyer 3 then reads count=0 and writes nothing
    locked(
        2,
        paid_locked,
        ("read", 10, ["ticket.py:10", "ticket.py:22", "ticket.py:31"]),
        ("write", 25, ["ticket.py:25", "ticket.py:31"]),
    )
    locked(3, paid_locked, ("read", 10, ["ticket.py:10", "ticket.py:22", "ticket.py:31"]))
    for pid in (2, 3):
        ev(pid, "exit", code=0, exc=None)
        ev(1, "join", child=pid)
        ev(1, "joined", child=pid, exitcode=0)
    ev(1, "exit", code=None, exc=None)
    return ev.trace()


def test_race_judged_by_data_flow_not_by_line() -> None:
    # one helper does every read: the look in search() shares its line with the update in
    # paid(), but only the read whose value reaches a write (and the same read on the same
    # path in the buyer that then bought nothing) is judged
    assert find_races(_helper_buyers(False, True), "ticket.json", ignore_read_only=True) == []
    races = find_races(_helper_buyers(False, False), "ticket.json", ignore_read_only=True)
    assert races
    # the buyer that read count=0 in paid() and wrote nothing still races with the writer
    assert any(
        access.pid == 3 and access.op == "read" and "ticket.py:22" in access.context
        for race in races
        for access in (race.first, race.second)
    )
    # and the looks in search() are not judged at all
    assert not any(
        "ticket.py:15" in access.context for race in races for access in (race.first, race.second)
    )
    # the unlocked look alone is a race only when reads are not ignored
    assert find_races(_helper_buyers(False, True), "ticket.json", ignore_read_only=False)


def _watcher(end: str) -> Trace:
    """A main process (pid 1) with a watcher child (pid 2) that never ends by itself:
    ``daemon`` (left to be killed at exit), ``terminate`` (ended by the program's own
    terminate()) or ``killed`` (by someone else: exit code -9 and nothing more)."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "start", child=2, name="Process-1", daemon=end == "daemon")
    ev(2, "proc", role="forked")
    ev(2, "run", name="Process-1", target="monitor")
    ev(2, "read", "ticket.json", line=12, mode="r")
    if end == "terminate":
        ev(1, "terminate", child=2, signal="SIGTERM", line=50)
    if end != "daemon":
        ev(1, "join", child=2)
        ev(1, "joined", child=2, exitcode=-15 if end == "terminate" else -9)
    ev(1, "exit", code=None, exc=None)
    return ev.trace()


def test_daemons_and_terminated_children_end_normally() -> None:
    for end in ("daemon", "terminate"):
        trace = _watcher(end)
        assert trace.complete, trace.problems
        assert trace.processes[2].ended_by == end
        assert crashed_children(trace) == []
    killed = _watcher("killed")
    assert killed.processes[2].ended_by is None
    assert [p.pid for p in crashed_children(killed)] == [2]


def _poller(join_first: bool, last: str) -> Trace:
    """Main (pid 1) starts a producer (pid 2) that puts into queue Q1.1, and takes from it
    until a look finds it empty (``last``: ``empty`` or ``get_nowait``) or gets the
    sentinel (``sentinel``); ``join_first``: the producer is joined before the taking."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "queue_new", "Q1.1", line=30, queue="Queue", maxsize=3)
    ev(1, "start", child=2, name="Process-1")
    ev(2, "proc", role="forked")
    ev(2, "run", name="Process-1", target="producer")
    for _ in range(2):
        ev(2, "put", "Q1.1", line=8, block=True, timeout=None)
        ev(2, "put_done", "Q1.1", line=8, outcome="ok")
    ev(2, "exit", code=0, exc=None)
    if join_first:
        ev(1, "join", child=2)
        ev(1, "joined", child=2, exitcode=0)
    ev(1, "get", "Q1.1", line=15, block=True, timeout=None)
    ev(1, "get_done", "Q1.1", line=15, outcome="ok")
    if last == "empty":
        ev(1, "poll", "Q1.1", line=14, method="empty", empty=True)
    elif last == "get_nowait":
        ev(1, "get", "Q1.1", line=15, block=False, timeout=None)
        ev(1, "get_done", "Q1.1", line=15, outcome="Empty")
    else:
        ev(1, "get", "Q1.1", line=15, block=True, timeout=None)
        ev(1, "get_done", "Q1.1", line=15, outcome="ok")
    if not join_first:
        ev(1, "join", child=2)
        ev(1, "joined", child=2, exitcode=0)
    ev(1, "exit", code=None, exc=None)
    return ev.trace()


def test_a_poll_that_ends_a_loop_while_the_producer_runs_can_miss_an_item() -> None:
    from ipcgrader.trace.analyses import missed_polls

    assert [e.line for e in missed_polls(_poller(False, "empty"))] == [14]
    assert [e.line for e in missed_polls(_poller(False, "get_nowait"))] == [15]
    # ended on the sentinel, or drained only after the producer was joined: nothing missed
    assert missed_polls(_poller(False, "sentinel")) == []
    assert missed_polls(_poller(True, "empty")) == []


def _timed_taker(taken: int) -> Trace:
    """Main (pid 1) starts a producer (pid 2) that puts 2 items into Q1.1, takes ``taken``
    of them with ``get(timeout=1)`` and stops when the next one raises ``Empty``; the
    producer is joined after that."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "queue_new", "Q1.1", line=30, queue="Queue", maxsize=3)
    ev(1, "start", child=2, name="Process-1")
    ev(2, "proc", role="forked")
    ev(2, "run", name="Process-1", target="producer")
    for _ in range(2):
        ev(2, "put", "Q1.1", line=8, block=True, timeout=None)
        ev(2, "put_done", "Q1.1", line=8, outcome="ok")
    for _ in range(taken):
        ev(1, "get", "Q1.1", line=15, block=True, timeout=1)
        ev(1, "get_done", "Q1.1", line=15, outcome="ok")
    ev(1, "get", "Q1.1", line=15, block=True, timeout=1)
    ev(1, "get_done", "Q1.1", line=15, outcome="Empty")
    ev(2, "exit", code=0, exc=None)
    ev(1, "join", child=2)
    ev(1, "joined", child=2, exitcode=0)
    ev(1, "exit", code=None, exc=None)
    return ev.trace()


def test_a_timed_get_that_ends_a_loop_is_judged_by_the_items_it_left() -> None:
    """A get(timeout=t) that raised Empty and ended the loop while the producer ran missed
    items when some were never taken; one that came after every item had been taken
    waited for nothing more."""
    from ipcgrader.trace.analyses import missed_polls, timed_take

    early = _timed_taker(1)
    [found] = missed_polls(early)
    assert (found.kind, found.line) == ("get_done", 15)
    taken = timed_take(early, found)
    assert taken is not None and taken.get("timeout") == 1
    assert missed_polls(_timed_taker(2)) == []
    # a get that does not wait is a look: judged by the order alone, as before
    assert (
        timed_take(_poller(False, "get_nowait"), missed_polls(_poller(False, "get_nowait"))[0])
        is None
    )


def _spinner(after: str) -> Trace:
    """A consumer (pid 3) spins on ``empty()`` of Q1.1 while a producer (pid 2) puts; the
    run is stopped while the consumer runs (no exit event). ``after`` its last look: more
    looks and sleeps (``looking``), the event cap (``lost``), or a printed line
    (``moved_on``)."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "queue_new", "Q1.1", line=30, queue="Queue", maxsize=0)
    ev(1, "start", child=3, name="Process-1")
    ev(1, "start", child=2, name="Process-2")
    ev(3, "proc", role="forked")
    ev(3, "run", name="Process-1", target="drain")
    ev(2, "proc", role="forked")
    ev(2, "run", name="Process-2", target="producer")
    ev(3, "poll", "Q1.1", line=22, method="empty", empty=True)
    ev(2, "put", "Q1.1", line=8, block=True, timeout=None)
    ev(2, "put_done", "Q1.1", line=8, outcome="ok")
    ev(3, "poll", "Q1.1", line=22, method="empty", empty=False)
    ev(3, "get", "Q1.1", line=23, block=True, timeout=None)
    ev(3, "get_done", "Q1.1", line=23, outcome="ok")
    ev(3, "poll", "Q1.1", line=22, method="empty", empty=True)
    if after == "looking":
        ev(3, "sleep", seconds=0.1)
        ev(3, "get", "Q1.1", line=23, block=False, timeout=None)
    elif after == "lost":  # the loop reached the event cap: its last look is not known
        ev(3, "lost")
    else:
        ev(3, "out", line=25, text="done")
    ev(2, "put", "Q1.1", line=8, block=True, timeout=None)
    ev(2, "put_done", "Q1.1", line=8, outcome="ok")
    return ev.trace()


def test_a_loop_stopped_while_it_still_looks_has_missed_nothing() -> None:
    """A consumer spinning on empty() for ever never stopped taking: the run's stop
    ended it mid-loop. One that went on to other work after its last look did stop."""
    from ipcgrader.trace.analyses import missed_polls

    assert missed_polls(_spinner("looking")) == []
    assert missed_polls(_spinner("lost")) == []
    assert [e.line for e in missed_polls(_spinner("moved_on"))] == [22]


def _pipe_reader(last: str) -> Trace:
    """Main (pid 1) starts a server (pid 2) on end 1 of pipe P1.1 that answers on it, and
    reads end 0 until ``last``: a ``poll()`` that found nothing, a ``recv``, or a poll that
    found nothing followed by a recv once main has sent again (``poll-send-recv``)."""
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "pipe_new", "P1.1", line=20, duplex=True)
    ev(1, "start", child=2, name="Process-1")
    ev(2, "proc", role="forked")
    ev(2, "run", name="Process-1", target="echo_server")
    ev(1, "send", "P1.1", line=25, end=0)
    ev(2, "recv", "P1.1", line=9, end=1)
    ev(2, "recv_done", "P1.1", line=9, end=1, outcome="ok")
    ev(2, "send", "P1.1", line=14, end=1)
    if last == "poll":
        ev(1, "poll", "P1.1", line=26, end=0, method="poll", timeout=0.0, empty=True)
    elif last == "poll-send-recv":
        ev(1, "poll", "P1.1", line=26, end=0, method="poll", timeout=0.0, empty=True)
        ev(1, "send", "P1.1", line=25, end=0)
        ev(1, "poll", "P1.1", line=26, end=0, method="poll", timeout=0.0, empty=False)
        ev(1, "recv", "P1.1", line=27, end=0)
        ev(1, "recv_done", "P1.1", line=27, end=0, outcome="ok")
    else:
        ev(1, "recv", "P1.1", line=26, end=0)
        ev(1, "recv_done", "P1.1", line=26, end=0, outcome="ok")
    # main's own send after the look goes to the other end: it is not a reply
    ev(1, "send", "P1.1", line=28, end=0)
    ev(2, "exit", code=0, exc=None)
    ev(1, "join", child=2)
    ev(1, "joined", child=2, exitcode=0)
    ev(1, "exit", code=None, exc=None)
    return ev.trace()


def test_a_pipe_poll_that_ends_reading_while_the_sender_runs_can_miss_a_message() -> None:
    from ipcgrader.trace.analyses import missed_polls

    assert [(e.line, e.get("end")) for e in missed_polls(_pipe_reader("poll"))] == [(26, 0)]
    assert missed_polls(_pipe_reader("recv")) == []
    # `if conn.poll(): print(conn.recv())` after each send: the first poll moved on
    assert [e.line for e in missed_polls(_pipe_reader("poll-send-recv"))] == [26]
