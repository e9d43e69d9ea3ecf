"""Parse a trace file into events, processes and locks, and order events by happens-before.

The file holds one JSON object per line (format: ``docs/trace.md``). Events of one process
are ordered by ``seq``; across processes the only order the analyses trust is
happens-before through ``start`` and ``join`` (a child's events come after its parent's
events before ``start()``, and before the parent's events after ``join()`` returned).
"""

from __future__ import annotations

import bisect
import heapq
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Keys every event has; the other keys of a line go to :attr:`Event.data`.
_BASE_KEYS = frozenset({"pid", "ppid", "seq", "t", "kind", "obj", "file", "line", "tid"})
#: Roles of processes that run no student code: they may outlive the run untraced.
INFRASTRUCTURE_ROLES = frozenset({"manager", "forkserver", "helper"})
#: Lock tag prefixes (see docs/trace.md): the first letter says what kind of lock it is.
_TAG_KINDS = {
    "L": "Lock",
    "S": "Semaphore",
    "T": "threading.Lock",
    "M": "Manager.Lock",
    "F": "flock",
}


@dataclass(frozen=True, eq=False)
class Event:
    """One thing one process did. ``file``/``line`` are the student's own code, if any."""

    pid: int
    ppid: int
    seq: int
    t: float
    kind: str
    obj: str | None = None
    file: str | None = None
    line: int | None = None
    tid: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """A kind-specific field (``exitcode``, ``outcome``, ``text`` ...)."""
        return self.data.get(key, default)

    @property
    def where(self) -> str | None:
        """``ticket.py:9`` or None when no student frame was on the stack."""
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(eq=False)
class LockInfo:
    """A lock as the trace knows it, by its tag (the same in every process)."""

    tag: str
    kind: str
    value: int | None = None
    created: Event | None = None
    #: where it was created, also outside the student's files (``buy.py:9``)
    origin: str | None = None
    name: str | None = None

    @property
    def process_shared(self) -> bool:
        """Whether it can exclude other processes (a threading lock cannot)."""
        return not self.kind.startswith("threading.")

    @property
    def exclusive(self) -> bool:
        """Whether holding it keeps every other holder out (not a Semaphore(2))."""
        if self.tag.startswith("S"):
            return False
        return self.value is None or self.value <= 1

    @property
    def is_file_lock(self) -> bool:
        """``fcntl.flock``/``lockf``: held until released or its file is closed."""
        return self.tag.startswith("F")


@dataclass(eq=False)
class ProcessInfo:
    """One process of the run and what is known about its life."""

    pid: int
    ppid: int
    role: str = "unknown"
    name: str | None = None
    target: str | None = None
    events: list[Event] = field(default_factory=list)
    #: the parent's ``start`` event for this process
    start: Event | None = None
    #: the parent's ``joined`` events naming this process
    joined: list[Event] = field(default_factory=list)
    exit: Event | None = None
    #: started with ``daemon=True``
    daemon: bool = False
    #: the parent's ``terminate`` event (``terminate()`` or ``kill()``) for this process
    terminated: Event | None = None
    #: ended on purpose without an exit event of its own: ``terminate`` (the program's own
    #: terminate() or kill()) or ``daemon`` (a daemon killed when its parent exited)
    ended_by: str | None = None

    @property
    def exitcode(self) -> int | None:
        """Exit status: from its own ``exit`` event, else from a parent's join."""
        if self.exit is not None and isinstance(self.exit.get("code"), int):
            return int(self.exit.get("code"))
        for event in self.joined:
            if isinstance(event.get("exitcode"), int):
                return int(event.get("exitcode"))
        return None

    @property
    def exception(self) -> dict[str, Any] | None:
        """The uncaught exception that ended it: ``type``, ``message``, ``file``, ``line``."""
        if self.exit is None:
            return None
        exc = self.exit.get("exc")
        return exc if isinstance(exc, dict) else None

    @property
    def left(self) -> dict[str, Any] | None:
        """How its code left early, if it did: ``how`` (``sys.exit``, ``os._exit``),
        ``code``, and the student's ``file`` and ``line`` of the call."""
        if self.exit is None:
            return None
        left = self.exit.get("left")
        return left if isinstance(left, dict) else None

    @property
    def finished(self) -> bool:
        """Its end is known (an ``exit`` event, a join that returned an exit code, or an
        end the program chose: terminate(), or a daemon killed when its parent exited)."""
        return self.exit is not None or self.exitcode is not None or self.ended_by is not None

    @property
    def crashed(self) -> bool:
        """Died of an uncaught exception, a signal or a non-zero exit, not by design."""
        if self.exception is not None:
            return True
        if self.ended_by is not None:
            return False
        return self.exitcode is not None and self.exitcode != 0

    @property
    def is_worker(self) -> bool:
        """A child that runs student code (not the main process, not infrastructure)."""
        return self.role not in ("main", *INFRASTRUCTURE_ROLES)

    @property
    def parent(self) -> int:
        """Pid of the process that started it."""
        return self.start.pid if self.start is not None else self.ppid


@dataclass(eq=False)
class Trace:
    """Every event of one run, with its processes, locks and ordering."""

    events: list[Event]
    processes: dict[int, ProcessInfo]
    locks: dict[str, LockInfo]
    #: ``queue_new`` / ``pipe_new`` / ``sync_new`` (Event, Condition, Barrier) events by tag
    objects: dict[str, Event]
    #: why the trace cannot be trusted to be complete (empty: complete)
    problems: list[str] = field(default_factory=list)
    _checkpoints: dict[int, tuple[list[int], list[dict[int, int]]]] | None = None

    @property
    def complete(self) -> bool:
        """Every process's events are all there, from its start to its end."""
        return not self.problems

    def root(self) -> ProcessInfo | None:
        """The run's main process."""
        for process in self.processes.values():
            if process.role == "main":
                return process
        return None

    def workers(self) -> list[ProcessInfo]:
        """Child processes that ran student code, in the order they started."""
        found = [p for p in self.processes.values() if p.is_worker and p.events]
        return sorted(found, key=lambda p: p.events[0].t)

    def events_of(self, pid: int, kinds: Iterable[str] | None = None) -> list[Event]:
        """One process's events in its own order, optionally only some kinds."""
        process = self.processes.get(pid)
        if process is None:
            return []
        if kinds is None:
            return list(process.events)
        wanted = set(kinds)
        return [e for e in process.events if e.kind in wanted]

    def lock(self, tag: str) -> LockInfo:
        """What is known about a lock (a guess from its tag if it was never announced)."""
        info = self.locks.get(tag)
        if info is None:
            info = LockInfo(tag=tag, kind=_TAG_KINDS.get(tag[:1], "lock"))
            self.locks[tag] = info
        return info

    def output(self, stream: str = "stdout") -> list[Event]:
        """Complete lines printed to stdout (``out``) or stderr (``err``), in time order."""
        kind = "out" if stream == "stdout" else "err"
        return [e for e in self.events if e.kind == kind]

    def happens_before(self, a: Event, b: Event) -> bool:
        """``a`` is ordered before ``b`` by program order or by start/join edges."""
        if a.pid == b.pid:
            return a.seq < b.seq and (a.tid == b.tid or a.tid is None or b.tid is None)
        return self.clock(b).get(a.pid, -1) >= a.seq

    def concurrent(self, a: Event, b: Event) -> bool:
        """Neither event happens before the other."""
        return not self.happens_before(a, b) and not self.happens_before(b, a)

    def clock(self, event: Event) -> dict[int, int]:
        """For each other process, the last of its ``seq`` that happens before ``event``."""
        if self._checkpoints is None:
            self._checkpoints = _checkpoints(self)
        seqs, clocks = self._checkpoints.get(event.pid, ([], []))
        index = bisect.bisect_right(seqs, event.seq) - 1
        return clocks[index] if index >= 0 else {}


def _checkpoints(trace: Trace) -> dict[int, tuple[list[int], list[dict[int, int]]]]:
    """Vector clocks, stored only where they change: at a process's start and its joins."""
    current: dict[int, dict[int, int]] = {}
    at_start: dict[int, dict[int, int]] = {}
    result: dict[int, tuple[list[int], list[dict[int, int]]]] = {}
    for event in trace.events:
        pid = event.pid
        if pid not in current:
            process = trace.processes[pid]
            if process.start is not None:
                base = dict(at_start.get(process.pid, {}))
            else:  # a raw os.fork(): ordered after what its parent did before
                parent = current.get(process.ppid)
                base = dict(parent) if parent is not None else {}
                if parent is not None:
                    base[process.ppid] = _last_seq_before(trace, process.ppid, event.t)
            current[pid] = base
            result[pid] = ([event.seq], [dict(base)])
        clock = current[pid]
        if event.kind == "start" and isinstance(event.get("child"), int):
            snapshot = dict(clock)
            snapshot[pid] = event.seq
            at_start[int(event.get("child"))] = snapshot
        elif event.kind == "joined" and isinstance(event.get("exitcode"), int):
            child = trace.processes.get(int(event.get("child", -1)))
            if child is not None and child.pid in current and child.events:
                merged = dict(clock)
                for other, seq in current[child.pid].items():
                    merged[other] = max(merged.get(other, -1), seq)
                merged[child.pid] = child.events[-1].seq
                current[pid] = merged
                result[pid][0].append(event.seq)
                result[pid][1].append(dict(merged))
    return result


def _last_seq_before(trace: Trace, pid: int, t: float) -> int:
    seq = -1
    for event in trace.processes[pid].events:
        if event.t > t:
            break
        seq = event.seq
    return seq


def _event(raw: Any) -> Event:
    if not isinstance(raw, dict):
        raise ValueError("not an object")
    pid, seq, kind = raw["pid"], raw["seq"], raw["kind"]
    if not (isinstance(pid, int) and isinstance(seq, int) and isinstance(kind, str)):
        raise ValueError("bad pid, seq or kind")
    line = raw.get("line")
    tid = raw.get("tid")
    return Event(
        pid=pid,
        ppid=int(raw.get("ppid", 0)),
        seq=seq,
        t=float(raw.get("t", 0.0)),
        kind=kind,
        obj=raw.get("obj") if isinstance(raw.get("obj"), str) else None,
        file=raw.get("file") if isinstance(raw.get("file"), str) else None,
        line=line if isinstance(line, int) else None,
        tid=tid if isinstance(tid, int) else None,
        data={k: v for k, v in raw.items() if k not in _BASE_KEYS},
    )


def _linearise(per_process: dict[int, list[Event]]) -> Iterator[Event]:
    """Merge the processes' event lists by time, keeping each process's own order."""
    heads = [(events[0].t, pid, 0) for pid, events in per_process.items() if events]
    heapq.heapify(heads)
    while heads:
        _, pid, index = heapq.heappop(heads)
        events = per_process[pid]
        yield events[index]
        if index + 1 < len(events):
            heapq.heappush(heads, (max(events[index + 1].t, events[index].t), pid, index + 1))


def parse_trace(lines: Iterable[str]) -> Trace:
    """Build a :class:`Trace` from the lines of a trace file."""
    problems: list[str] = []
    per_process: dict[int, list[Event]] = {}
    bad = 0
    for text in lines:
        if not text.strip():
            continue
        try:
            event = _event(json.loads(text))
        except (ValueError, KeyError, TypeError):
            bad += 1
            continue
        per_process.setdefault(event.pid, []).append(event)
    if bad:
        problems.append(f"{bad} line(s) of the trace are not events (cut off?)")
    processes: dict[int, ProcessInfo] = {}
    for pid, events in per_process.items():
        events.sort(key=lambda e: e.seq)
        processes[pid] = ProcessInfo(pid=pid, ppid=events[0].ppid, events=events)
        expected = list(range(events[0].seq, events[0].seq + len(events)))
        if events[0].seq != 0 or [e.seq for e in events] != expected:
            problems.append(f"events of process {pid} are missing")
    trace = Trace(
        events=list(_linearise(per_process)),
        processes=processes,
        locks={},
        objects={},
        problems=problems,
    )
    _describe(trace)
    if not trace.events:
        problems.append("no event was recorded")
    elif trace.root() is None:
        problems.append("the main process left no events")
    _ended_by_design(trace)
    for process in processes.values():
        if process.role not in INFRASTRUCTURE_ROLES and not process.finished:
            label = f"process {process.pid}" + (f" ({process.name})" if process.name else "")
            problems.append(f"{label} has no exit event: it was killed or the trace was cut")
    return trace


#: exit codes of a child ended by terminate() (SIGTERM) or kill() (SIGKILL)
_KILLED = (-15, -9)


def _ended_by_design(trace: Trace) -> None:
    """Mark the children the program ended on purpose: ended by its own terminate() or
    kill() (no exit event, or the signal's exit code), or daemons that were still running
    when their parent exited (multiprocessing kills them then)."""
    for process in trace.processes.values():
        if process.exit is not None:
            continue  # it ended by itself
        code = process.exitcode
        if code is not None and code not in _KILLED:
            continue
        parent = trace.processes.get(process.parent)
        if process.terminated is not None:
            process.ended_by = "terminate"
        elif process.daemon and parent is not None and parent.exit is not None:
            process.ended_by = "daemon"


def _describe(trace: Trace) -> None:
    """Fill in roles, names, start/join/exit events, locks and objects."""
    for event in trace.events:
        process = trace.processes[event.pid]
        kind = event.kind
        if kind == "proc":
            process.role = str(event.get("role", process.role))
        elif kind == "run":
            process.name = event.get("name")
            process.target = event.get("target")
            target = process.target or ""
            process.role = "manager" if target.endswith("_run_server") else "worker"
        elif kind == "exit":
            process.exit = event
        elif kind in ("start", "joined"):
            child = trace.processes.get(event.get("child", -1))
            if child is not None:
                if kind == "start":
                    child.start = event
                    child.name = child.name or event.get("name")
                    child.daemon = bool(event.get("daemon", False))
                else:
                    child.joined.append(event)
        elif kind == "terminate":
            child = trace.processes.get(event.get("child", -1))
            if child is not None and child.terminated is None:
                child.terminated = event
        elif kind == "lock_new" and event.obj:
            trace.locks.setdefault(
                event.obj,
                LockInfo(
                    tag=event.obj,
                    kind=str(event.get("lock", _TAG_KINDS.get(event.obj[:1], "lock"))),
                    value=event.get("value"),
                    created=event,
                    origin=event.get("origin"),
                    name=event.get("name"),
                ),
            )
        elif kind in ("queue_new", "pipe_new", "sync_new") and event.obj:
            trace.objects.setdefault(event.obj, event)
        elif kind == "lost":
            trace.problems.append(f"process {event.pid} recorded too many events; some were lost")


def read_trace(path: str | Path) -> Trace:
    """Parse the trace file at ``path``; a missing file gives an incomplete, empty trace."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_trace(handle)
    except OSError:
        trace = parse_trace([])
        trace.problems[:] = ["the harness wrote no trace"]
        return trace
