"""Analyses over a trace: locksets, atomicity of read-modify-write, overlap, crashes.

All of them judge what the program *could* do, not only what happened to happen: two
accesses are racing when no start/join edge orders them and no common lock protects them,
whether or not they overlapped in this run (the Eraser lockset idea, with happens-before
through start and join so that a parent's set-up before ``start()`` is not a race).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from ipcgrader.trace.events import Event, LockInfo, ProcessInfo, Trace

#: Beyond this many distinct accesses to one file, pairs are checked on a sample.
MAX_ACCESSES = 400


@dataclass(frozen=True)
class Hold:
    """One lock held at some point: which critical section and since when."""

    section: int
    since: Event
    mode: str = "ex"


Held = dict[str, Hold]


@dataclass(frozen=True, eq=False)
class Access:
    """A read or write of a shared file, with the locks its thread held at that moment."""

    event: Event
    op: str
    held: Held

    @property
    def pid(self) -> int:
        """The process that made the access."""
        return self.event.pid

    @property
    def line(self) -> int | None:
        """The student's line of the access."""
        return self.event.line

    @property
    def context(self) -> tuple[str, ...]:
        """Where the access happened and the calls that led there (``file:line`` from the
        innermost student frame outwards); just its line when the trace has no stack."""
        stack = self.event.get("stack")
        if isinstance(stack, list) and stack:
            return tuple(str(frame) for frame in stack)
        return (f"{self.event.file}:{self.line}",) if self.event.file is not None else ()


@dataclass(frozen=True, eq=False)
class Race:
    """Two accesses from different processes, unordered, not both reads, no common lock."""

    first: Access
    second: Access


@dataclass(frozen=True, eq=False)
class AtomicityViolation:
    """A read of a file and the write after it that are not in one critical section.

    ``reason`` is ``read_unlocked`` (no process lock held at the read), ``released``
    (``lock`` was released in between, at ``released``), ``write_unlocked`` or
    ``different_locks``.
    """

    read: Access
    write: Access
    reason: str
    lock: str | None = None
    released: Event | None = None


class _Holds:
    """The locks each thread of one process holds, updated event by event."""

    def __init__(self, trace: Trace, pid: int) -> None:
        self.trace = trace
        self.threads: dict[int | None, dict[str, tuple[int, Hold]]] = {}
        self.section = pid * 1_000_000

    def snapshot(self, tid: int | None) -> Held:
        return {tag: hold for tag, (_, hold) in self.threads.get(tid, {}).items()}

    def apply(self, event: Event) -> None:
        tag = event.obj
        if tag is None or event.kind not in ("acquired", "release"):
            return
        mine = self.threads.setdefault(event.tid, {})
        count, hold = mine.get(tag, (0, None))
        if event.kind == "acquired" and event.get("ok", True):
            if count == 0 or hold is None:
                self.section += 1
                hold = Hold(self.section, event, str(event.get("mode", "ex")))
            nests = not self.trace.lock(tag).is_file_lock
            mine[tag] = (count + 1 if nests else 1, hold)
        elif event.kind == "release" and hold is not None:
            if count <= 1:
                del mine[tag]
            else:
                mine[tag] = (count - 1, hold)


def replay(trace: Trace, process: ProcessInfo) -> Iterator[tuple[Event, Held]]:
    """Each event of a process with the locks its thread held just before it."""
    holds = _Holds(trace, process.pid)
    for event in process.events:
        yield event, holds.snapshot(event.tid)
        holds.apply(event)


def final_holds(trace: Trace) -> dict[str, list[tuple[ProcessInfo, Hold]]]:
    """Who holds each lock after the last event of every process."""
    holders: dict[str, list[tuple[ProcessInfo, Hold]]] = {}
    for process in trace.processes.values():
        holds = _Holds(trace, process.pid)
        for event in process.events:
            holds.apply(event)
        for threads in holds.threads.values():
            for tag, (_, hold) in threads.items():
                holders.setdefault(tag, []).append((process, hold))
    return holders


#: Shared state that is not a file, named by kind in a check's ``file``: every object of
#: that kind (each ``Value``, each key of each ``Manager().dict()``) is judged on its own.
STATE_KINDS = frozenset({"Value", "Array", "Manager.dict", "Manager.Value"})


def accesses(trace: Trace, file: str) -> list[Access]:
    """Every read and write of ``file`` (as named in the exercise: a shared file, or a
    kind of shared state from :data:`STATE_KINDS`), in per-process order."""
    found: list[Access] = []
    state = file in STATE_KINDS
    for process in trace.processes.values():
        for event, held in replay(trace, process):
            if event.kind not in ("read", "write"):
                continue
            if (event.get("state") == file) if state else (event.obj == file):
                found.append(Access(event, event.kind, held))
    return found


def state_key(obj: str | None) -> str | None:
    """The key or index in an object of shared state's tag, as the program wrote it
    (``'count'``, ``0``), or None for a Value (``D1@addr['count']`` gives ``'count'``)."""
    if obj is None or not obj.endswith("]") or "[" not in obj:
        return None
    return obj[obj.index("[") + 1 : -1]


def last_accesses(trace: Trace, state: str, key: str | None = None) -> dict[str, Access]:
    """Per object of the kind of shared state ``state`` (and key or index ``key``, as
    :func:`state_key` gives it; None: every one but slices), its last read or write by the
    trace's clock. Its ``value`` is what the object held then: the read returned it, or the
    write stored it."""
    last: dict[str, Access] = {}
    for access in accesses(trace, state):
        obj = access.event.obj or ""
        found = state_key(obj)
        if (found != key) if key is not None else (found or "").startswith("slice("):
            continue
        seen = last.get(obj)
        if seen is None or (access.event.t, access.event.seq) >= (seen.event.t, seen.event.seq):
            last[obj] = access
    return last


def read_modify_writes(found: list[Access]) -> list[tuple[Access | None, Access]]:
    """Each write with the read that feeds it: the last read of the file by the same thread
    before the write and after its previous write (None for a blind write)."""
    pairs: list[tuple[Access | None, Access]] = []
    last_read: dict[tuple[int, int | None, str | None], Access] = {}
    for access in sorted(found, key=lambda a: (a.pid, a.event.seq)):
        key = (access.pid, access.event.tid, access.event.obj)
        if access.op == "read":
            last_read[key] = access
        else:
            pairs.append((last_read.pop(key, None), access))
    return pairs


def update_accesses(found: list[Access]) -> list[Access]:
    """The accesses of read-modify-writes: every write, the read that feeds each write, and
    every read made in a calling context where some process's read fed a write.

    Judged by data flow, not by line: a read counts when its value reaches a write of the
    file in that process (the last read before the write, whatever function or line made
    it), and so does the same read made on the same path through the code (the same
    student frames and call sites) in a process that then wrote nothing: a buyer that reads
    ``count=0`` and so writes nothing made the same read-to-decide as the buyer that
    bought, and races with it all the same. A read whose value never feeds a write stays
    free, even at a shared line: ``search()`` and ``paid()`` may both call one helper
    ``read_count()``; the helper's read called from ``search()`` is a look, the one called
    from ``paid()`` an update.
    """
    pairs = read_modify_writes(found)
    feeding = {read for read, _ in pairs if read is not None}
    contexts = {read.context for read in feeding if read.context}
    return [
        access
        for access in found
        if access.op == "write"
        or access in feeding
        or (access.op == "read" and access.context and access.context in contexts)
    ]


def protects(trace: Trace, tag: str) -> bool:
    """Whether holding ``tag`` in two processes keeps them apart."""
    info = trace.lock(tag)
    return info.process_shared and info.exclusive


def common_locks(trace: Trace, a: Access, b: Access) -> set[str]:
    """Locks held at both accesses that exclude each other."""
    shared = set(a.held) & set(b.held)
    return {
        tag
        for tag in shared
        if protects(trace, tag) and "ex" in (a.held[tag].mode, b.held[tag].mode)
    }


def _distinct(found: list[Access]) -> list[Access]:
    """One access per (process, op, line, lockset): enough to find every kind of race."""
    seen: set[tuple[int, str, int | None, tuple[str, ...], str | None]] = set()
    kept = []
    for access in found:
        key = (access.pid, access.op, access.line, tuple(sorted(access.held)), access.event.obj)
        if key not in seen:
            seen.add(key)
            kept.append(access)
    return kept[:MAX_ACCESSES]


def find_races(trace: Trace, file: str, ignore_read_only: bool = False) -> list[Race]:
    """Pairs of racing accesses to ``file``.

    With ``ignore_read_only``, reads that feed no write of the same process (a process
    that only looks, like the ticket program's ``search()``) are left out: only
    read-modify-writes and writes are judged.
    """
    found = accesses(trace, file)
    if ignore_read_only:
        found = update_accesses(found)
    candidates = _distinct(found)
    races = []
    for index, a in enumerate(candidates):
        for b in candidates[index + 1 :]:
            if a.pid == b.pid or (a.op == "read" and b.op == "read"):
                continue
            if a.event.obj != b.event.obj:
                continue  # two different Values (or keys): no shared state
            if trace.concurrent(a.event, b.event) and not common_locks(trace, a, b):
                races.append(Race(a, b))
    return races


def atomicity_violations(trace: Trace, file: str) -> list[AtomicityViolation]:
    """Read-modify-writes of ``file`` whose read and write are not in one critical section
    of one process-shared lock."""
    violations = []
    for read, write in read_modify_writes(accesses(trace, file)):
        if read is None:
            continue
        same = [
            tag
            for tag, hold in read.held.items()
            if protects(trace, tag)
            and tag in write.held
            and write.held[tag].section == hold.section
        ]
        if same:
            continue
        violations.append(_violation(trace, read, write))
    return violations


def _violation(trace: Trace, read: Access, write: Access) -> AtomicityViolation:
    read_locks = [t for t in read.held if protects(trace, t)]
    write_locks = [t for t in write.held if protects(trace, t)]
    if not read_locks:
        return AtomicityViolation(read, write, "read_unlocked")
    for tag in read_locks:
        if tag in write.held:
            released = next(
                (
                    e
                    for e in trace.events_of(read.pid, ["release"])
                    if e.obj == tag and read.event.seq < e.seq < write.event.seq
                ),
                None,
            )
            return AtomicityViolation(read, write, "released", tag, released)
    if not write_locks:
        return AtomicityViolation(read, write, "write_unlocked", read_locks[0])
    return AtomicityViolation(read, write, "different_locks", read_locks[0])


def overlapping_workers(trace: Trace) -> list[tuple[ProcessInfo, ProcessInfo]]:
    """Pairs of workers whose lifetimes are not ordered by start/join (they could run at
    the same time)."""
    workers = trace.workers()
    pairs = []
    for index, a in enumerate(workers):
        for b in workers[index + 1 :]:
            if not trace.happens_before(a.events[-1], b.events[0]) and not (
                trace.happens_before(b.events[-1], a.events[0])
            ):
                pairs.append((a, b))
    return pairs


def serialised_workers(trace: Trace) -> list[tuple[ProcessInfo, ProcessInfo]]:
    """If every worker ends before the next starts (join right after start), the pairs of
    consecutive workers; empty when some workers overlap or there are fewer than two."""
    workers = trace.workers()
    if len(workers) < 2 or overlapping_workers(trace):
        return []
    return list(pairwise(workers))


def crashed_children(trace: Trace) -> list[ProcessInfo]:
    """Worker processes that died of an uncaught exception or a signal, or exited non-zero
    (a child the program ended itself, by terminate() or as a daemon at exit, did not)."""
    return [p for p in trace.workers() if p.crashed]


def unused_locks(trace: Trace) -> list[LockInfo]:
    """Process locks that were created but never acquired by anyone. The lock a Value or
    Array makes for itself is not one: it is there for ``get_lock()``, if wanted."""
    acquired = {e.obj for e in trace.events if e.kind == "acquire"}
    return [
        info
        for tag, info in trace.locks.items()
        if tag not in acquired
        and info.process_shared
        and not info.is_file_lock
        and not info.kind.endswith(".get_lock()")
    ]


def _inbox(event: Event) -> tuple[str, int] | None:
    """Where an event's item goes or comes from: a queue (end -1) or a pipe end. A send on
    one end of a pipe arrives at the other."""
    if event.obj is None:
        return None
    end = event.get("end")
    if end is None:
        return event.obj, -1
    return event.obj, 1 - int(end) if event.kind == "send" else int(end)


def missed_polls(trace: Trace) -> list[Event]:
    """Polls that ended a process's use of a queue or pipe end while an item could still
    come, in the order they happened.

    For each process and queue (or pipe end) it takes from, its last look there: a ``get``
    that raised ``Empty`` (``get_nowait()``, ``get(block=False)``, ``get(timeout=...)``),
    an ``empty()``/``qsize()`` that found the queue empty, or a pipe's ``poll()`` that
    found nothing. A pipe reader that goes on to send after a ``poll()`` that found
    nothing (``if conn.poll(): print(conn.recv())`` after each request) has moved on too:
    that look is judged as well. When another process puts into that queue (sends to that
    end) at a point that start/join does not order before the look, the reader stopped
    while a producer could still put: an item put later is missed. A loop that ends on a
    sentinel from a blocking ``get()``/``recv()``, or that drains only after joining the
    producers, is not. The verdict does not depend on timing: such a loop always ends on
    an empty look.

    A take that waited (``get(timeout=t)``, ``poll(t)``) and found nothing is judged so
    only when items put there (sent to that end) were then never taken: one that stopped
    after every item had been taken waited for nothing more (under poll amplification a
    timed take finds nothing at once only when nothing has been let through, so one that
    ends a loop early leaves items, in every run).
    """
    found: dict[tuple[int, int], Event] = {}
    puts: dict[tuple[str, int], list[Event]] = {}
    for event in trace.events:
        if event.kind in ("put", "send"):
            inbox = _inbox(event)
            if inbox is not None:
                puts.setdefault(inbox, []).append(event)

    def judge(look: Event) -> None:
        inbox = _inbox(look)
        if inbox is None or (timed_take(trace, look) is not None and not _left(trace, inbox)):
            return
        if any(
            put.pid != look.pid and not trace.happens_before(put, look)
            for put in puts.get(inbox, [])
        ):
            found[(look.pid, look.seq)] = look

    for process in trace.processes.values():
        last: dict[tuple[str, int], Event] = {}
        unanswered: dict[str, Event] = {}  # a pipe poll that found nothing, by pipe
        for event in process.events:
            if event.obj is None or event.obj not in trace.objects:
                continue
            if event.obj in unanswered and event.kind in ("send", "recv", "poll"):
                look = unanswered.pop(event.obj)
                if event.kind == "send":
                    judge(look)  # moved on without reading what may still come
            if event.kind == "poll" and event.get("method") == "poll" and event.get("empty"):
                unanswered[event.obj] = event
            if event.kind in ("get_done", "poll", "recv_done"):
                inbox = _inbox(event)
                if inbox is not None:
                    last[inbox] = event
        for event in last.values():
            empty = (event.kind == "get_done" and event.get("outcome") == "Empty") or (
                event.kind == "poll" and event.get("empty") is True
            )
            if empty and not _still_looking(process, event):
                judge(event)
    return sorted(found.values(), key=lambda e: (e.t, e.pid, e.seq))


def timed_take(trace: Trace, look: Event) -> Event | None:
    """The ``get`` event of a ``get(timeout=t)`` whose ``get_done`` is ``look``, or the
    ``poll`` itself when it is a ``poll(t)`` that waits; None for a look that does not
    wait (``empty()``, ``get_nowait()``, ``poll()``)."""
    if look.kind == "poll":
        timeout = look.get("timeout")
        waits = look.get("method") == "poll" and isinstance(timeout, (int, float))
        return look if waits and timeout > 0 else None
    if look.kind != "get_done":
        return None
    process = trace.processes.get(look.pid)
    if process is None:
        return None
    call = next(
        (
            e
            for e in reversed(process.events)
            if e.seq < look.seq and e.kind == "get" and e.obj == look.obj
        ),
        None,
    )
    if call is None or not call.get("block", True):
        return None
    timeout = call.get("timeout")
    return call if isinstance(timeout, (int, float)) and timeout > 0 else None


def _left(trace: Trace, inbox: tuple[str, int]) -> bool:
    """Whether more items went into ``inbox`` (puts, sends to that end) than were taken
    from it (gets, recvs at that end), all processes together."""
    into = taken = 0
    for event in trace.events:
        if event.kind not in ("put_done", "send_done", "get_done", "recv_done"):
            continue
        where = _inbox(event)
        if where is not None and event.kind == "send_done":
            where = (where[0], 1 - where[1])  # a send arrives at the other end
        if event.get("outcome") != "ok" or where != inbox:
            continue
        if event.kind in ("put_done", "send_done"):
            into += 1
        else:
            taken += 1
    return into > taken


#: what a loop that keeps looking at one queue or pipe end records, besides its looks
_LOOKING = frozenset({"sleep", "get", "get_done", "poll", "recv", "recv_done"})


def _still_looking(process: ProcessInfo, look: Event) -> bool:
    """After ``look`` the process only went on looking at the same queue (or pipe end)
    and sleeping, and it never ended on its own: it was stopped or killed while its loop
    was still looking (a consumer spinning on ``empty()`` for ever). That loop did not
    stop taking there, so it cannot miss an item there. Nor can it be said to have when the
    process's events ran out (``lost``, a spinning loop reaches the cap): its last look
    was not recorded."""
    if process.exit is not None:
        return False
    return all(
        e.kind == "lost" or (e.kind in _LOOKING and (e.kind == "sleep" or e.obj == look.obj))
        for e in process.events
        if e.seq > look.seq
    )
