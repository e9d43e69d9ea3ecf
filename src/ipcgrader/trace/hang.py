"""Hang diagnosis: when a run was stopped (deadlock, timeout, CPU budget), who was blocked
on what.

Every blocking call leaves a begin event (``acquire``, ``join``, ``get``, ``put``, ``recv``,
``send``, ``wait``, ``queue_join``) and, if it returned, an end event. A process whose last
begin event has no end was blocked there when the run was stopped; lock holders come from
replaying acquire and release events. :func:`wait_for_graph` gives the same as data (who
holds what, who waits at which line for whom), for reports to word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipcgrader.i18n import N_, _
from ipcgrader.results import Diagnostic
from ipcgrader.trace.analyses import Hold, final_holds
from ipcgrader.trace.events import Event, ProcessInfo, Trace

#: begin event kind -> (end event kind, what the process waits in)
BLOCKING = {
    "acquire": ("acquired", "lock"),
    "join": ("joined", "join"),
    "get": ("get_done", "get"),
    "put": ("put_done", "put"),
    "recv": ("recv_done", "recv"),
    "send": ("send_done", "send"),
    "wait": ("wait_done", "wait"),
    "queue_join": ("queue_joined", "queue_join"),
}


@dataclass(eq=False)
class Blocked:
    """A process that had not ended when the run was stopped.

    ``waits_in`` is ``lock``, ``join``, ``get``, ``put``, ``recv``, ``send``, ``wait`` (an
    Event, a Condition or a Barrier), ``queue_join`` (a JoinableQueue's join()) or
    ``running`` (not blocked in anything the harness
    sees); ``event`` is the blocking call, or the process's last event when it was
    running; ``holders`` are who held the awaited lock.
    """

    process: ProcessInfo
    waits_in: str
    event: Event
    holders: list[tuple[ProcessInfo, Hold]] = field(default_factory=list)


def _pending(process: ProcessInfo) -> Event | None:
    pending: Event | None = None
    for event in process.events:
        if event.kind in BLOCKING:
            pending = event
        elif (
            pending is not None
            and event.kind == BLOCKING[pending.kind][0]
            and event.obj == pending.obj
            and event.get("child") == pending.get("child")
        ):
            pending = None
    return pending


def blocked_processes(trace: Trace) -> list[Blocked]:
    """Every traced process that did not end, with what it was waiting for."""
    holds = final_holds(trace)
    found = []
    for process in trace.processes.values():
        if (
            process.finished
            or not process.events
            or (not process.is_worker and (process.role != "main"))
        ):
            continue
        pending = _pending(process)
        if pending is None:
            found.append(Blocked(process, "running", process.events[-1]))
            continue
        waits_in = BLOCKING[pending.kind][1]
        holders = holds.get(pending.obj or "", []) if waits_in == "lock" else []
        found.append(Blocked(process, waits_in, pending, holders))
    return found


def _line(event: Event | None) -> str:
    if event is not None and event.line:
        return _("line {line}").format(line=event.line)
    return _("a line outside your files")


#: What a process blocked in each kind of wait is doing, in words (translated on use).
_WAITS = {
    "lock": N_("waiting for a lock"),
    "join": N_("in join()"),
    "get": N_("in get() on an empty queue"),
    "put": N_("in put() on a full queue"),
    "recv": N_("in recv()"),
    "send": N_("in send()"),
    "wait": N_("in wait()"),
    "queue_join": N_("in join() of a JoinableQueue"),
    "running": N_("running"),
}


def _diagnose_lock(trace: Trace, item: Blocked, by_pid: dict[int, Blocked]) -> Diagnostic:
    """A process waits for a lock: say who holds it and what that process was doing, as
    the trace shows it, and invent no cycle: only a holder that itself waits for a lock
    gets the hint about two locks."""
    event = item.event
    mine = [hold for process, hold in item.holders if process is item.process]
    # the finding's place is this line: the message does not repeat it
    if mine:
        return Diagnostic(
            kind="hang_self_deadlock",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: the process acquires a lock it already holds (acquired at "
                "{since}). A Lock is not re-entrant: the second acquire() waits for the "
                "process itself, forever."
            ).format(since=_line(mine[0].since)),
            hint=_(
                "Acquire the lock once around the whole critical section (one `with lock:`), "
                "or use an RLock if a function that holds it calls another."
            ),
        )
    if not item.holders:
        return Diagnostic(
            kind="hang_lock_wait",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: waiting for a lock that nobody seems to hold (a Semaphore(0) "
                "that is never released?)"
            ),
        )
    holder, hold = item.holders[0]
    since = _line(hold.since)
    if holder.finished:
        return Diagnostic(
            kind="hang_lock_never_released",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: waiting for a lock that was acquired at {since} by a process "
                "that ended without releasing it. Every other process now waits for it "
                "forever."
            ).format(since=since),
            hint=_(
                "Release the lock on every path, also when there is nothing left to do "
                "(an early return, an if without else); `with lock:` releases it for you."
            ),
        )
    blocked = by_pid.get(holder.pid)
    if blocked is None or blocked.waits_in == "running":
        # the holder was alive and busy: slow, or looping with the lock held; not a deadlock
        last = holder.events[-1] if holder.events else None
        if last is not None and last.kind == "sleep":
            message = _(
                "waiting here for a lock that another process took at {since} and still held "
                "when the time was up; that process was sleeping at {last} with the lock held"
            ).format(since=since, last=_line(last))
        else:
            message = _(
                "waiting here for a lock that another process took at {since} and still "
                "held when the time was up; that process was still running (its last "
                "traced step was at {last}), so it had not released the lock yet"
            ).format(since=since, last=_line(last))
        return Diagnostic(
            kind="hang_lock_wait",
            file=event.file,
            line=event.line,
            message=message,
            hint=_(
                "Hold the lock only around the lines that must not interleave: a loop, a "
                "sleep or slow work inside `with lock:` makes every other process wait."
            ),
        )
    if blocked.waits_in == "lock" and blocked.event.obj == event.obj:
        # the holder acquires this very lock again: its own finding says why
        return Diagnostic(
            kind="hang_lock_wait",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: waiting for a lock held since {since} by a process that is "
                "itself stuck at {other}, acquiring that same lock again"
            ).format(since=since, other=_line(blocked.event)),
        )
    if blocked.waits_in == "lock":
        return Diagnostic(
            kind="hang_lock_wait",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: waiting for a lock held since {since} by a process that is "
                "itself stuck at {other}, waiting for another lock"
            ).format(since=since, other=_line(blocked.event)),
            hint=_(
                "Two processes that each hold one lock and wait for the other's deadlock; "
                "take locks in one fixed order, and hold a lock only as long as needed."
            ),
        )
    return Diagnostic(
        kind="hang_lock_wait",
        file=event.file,
        line=event.line,
        message=_(
            "stuck here: waiting for a lock held since {since} by a process that is itself "
            "stuck at {other} ({waiting}) while it holds the lock"
        ).format(since=since, other=_line(blocked.event), waiting=_(_WAITS[blocked.waits_in])),
        hint=_(
            "Do not wait (join, get, recv) while holding a lock that the process you wait "
            "for needs; release it first."
        ),
    )


def diagnose_hang(trace: Trace, *, deadlocked: bool = False) -> list[Diagnostic]:
    """Explanations, with the student's lines, of why a stopped run did not end; with
    ``deadlocked`` (the supervisor saw every process blocked for good) first the
    wait-for graph as one finding."""
    blocked = blocked_processes(trace)
    by_pid = {item.process.pid: item for item in blocked}
    found: list[Diagnostic] = []
    if deadlocked:
        summary = deadlock_diagnostic(wait_for_graph(trace))
        if summary is not None:
            found.append(summary)
    for item in blocked:
        event = item.event
        if item.waits_in == "lock":
            found.append(_diagnose_lock(trace, item, by_pid))
        elif item.waits_in == "running":
            if event.file is None or event.kind == "sleep":
                continue  # nothing to point at, or merely starved of CPU in a short sleep
            found.append(_diagnose_running(item))
        elif event.file is None:
            continue  # blocked in the exercise's own driver: the workers tell the story
        elif item.waits_in == "join":
            found.append(_diagnose_join(item, by_pid))
        elif item.waits_in in ("get", "put"):
            found.append(_diagnose_queue(trace, item))
        elif item.waits_in == "wait" and event.get("what") == "watch":
            continue  # the exercise's check watching the others: they tell the story
        elif item.waits_in == "wait":
            found.append(_diagnose_wait(trace, item))
        elif item.waits_in == "queue_join":
            found.append(_diagnose_queue_join(trace, item))
        elif item.waits_in == "recv" and _inherited_end(trace, item):
            found.append(_diagnose_inherited_end(trace, item))
        else:
            found.append(
                Diagnostic(
                    kind=f"hang_pipe_{item.waits_in}",
                    file=event.file,
                    line=event.line,
                    message=(
                        _(
                            "stuck here: recv() waits for the other end of the pipe, which "
                            "never sends anything"
                        )
                        if item.waits_in == "recv"
                        else _(
                            "stuck here: send() waits for the other end of the pipe, which "
                            "never reads"
                        )
                    ),
                    hint=_(
                        "Every recv() needs a send() on the other end, and a process that is "
                        "done with an end should close() it."
                    ),
                )
            )
    return found


#: How many traced steps at one line show that a process was going round a loop there.
LOOP_EVIDENCE = 20
#: Events of starting and ending processes: no evidence of a loop that never ends.
_LIFECYCLE = frozenset({"start", "join", "joined", "terminate"})


def _restart_loop(process: ProcessInfo) -> Diagnostic | None:
    """A process that kept starting new children after joining earlier ones, many times:
    the loop around start() and join() never ends, whatever it was doing at the stop. Said
    at its first start() line, so every run that caught it says it the same way."""
    events = process.events
    starts = [e for e in events if e.kind == "start"]
    first_joined = next((i for i, e in enumerate(events) if e.kind == "joined"), None)
    # start, join, start again ... is also how children are run one after another on
    # purpose: only many rounds of it are a loop
    if first_joined is None or len(starts) < LOOP_EVIDENCE:
        return None
    if not any(e.kind == "start" for e in events[first_joined:]):
        return None
    where = next((e for e in starts if e.file and e.line), None)
    if where is None:
        return None
    return Diagnostic(
        kind="hang_restart_loop",
        file=where.file,
        line=where.line,
        message=_(
            "this process never ended: it kept starting new child processes here after "
            "joining the earlier ones. Its children end; it is the loop around start() and "
            "join() that never does"
        ),
        hint=_("Check the condition that should end the loop (a `while True:` needs a break)."),
    )


def _diagnose_running(item: Blocked) -> Diagnostic:
    """A process that was computing when the run was stopped: a loop only when its trace
    shows it going round one (many steps at its last line); otherwise where it was."""
    event = item.event
    restart = _restart_loop(item.process)
    if restart is not None:
        return restart
    # starting many processes in a for loop is no loop that never ends (100 buyers)
    rounds = sum(
        1
        for e in item.process.events
        if (e.file, e.line) == (event.file, event.line) and e.kind not in _LIFECYCLE
    )
    if rounds >= LOOP_EVIDENCE:
        return Diagnostic(
            kind="hang_running",
            file=event.file,
            line=event.line,
            # no count in the words: it differs from run to run, the loop does not
            message=_(
                "still running when the run was stopped, not waiting for a lock, a join, a "
                "queue or a pipe: it kept coming back to this line. A loop that never ends?"
            ),
            hint=_("Check the condition that should end the loop."),
        )
    return Diagnostic(
        kind="hang_running",
        file=event.file,
        line=event.line,
        message=_(
            "still working when the run was stopped, not waiting for a lock, a join, a queue "
            "or a pipe: this line is the last step of it the grader saw"
        ),
    )


def _diagnose_join(item: Blocked, by_pid: dict[int, Blocked]) -> Diagnostic:
    """join() that had not returned: say what the awaited child was doing, and whether
    this process kept starting and joining new children (a loop that never ends)."""
    event = item.event
    restart = _restart_loop(item.process)
    if restart is not None:
        return restart
    child = by_pid.get(int(event.get("child") or 0))
    if child is not None and child.waits_in == "running" and not child.event.line:
        return Diagnostic(
            kind="hang_join",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: join() waits for a child process that was still running when "
                "the run was stopped"
            ),
        )
    if child is not None and child.waits_in == "running":
        return Diagnostic(
            kind="hang_join",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: join() waits for a child process that was still running when "
                "the run was stopped (its last step: {line})"
            ).format(line=_line(child.event)),
        )
    if child is not None:
        return Diagnostic(
            kind="hang_join",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: join() waits for a child process that never ends: it is itself "
                "stuck {waiting} at {line}"
            ).format(waiting=_(_WAITS[child.waits_in]), line=_line(child.event)),
        )
    return Diagnostic(
        kind="hang_join",
        file=event.file,
        line=event.line,
        message=_("stuck here: join() waits for a child process that never ends"),
    )


def _inherited_end(trace: Trace, item: Blocked) -> bool:
    """A recv() on a pipe whose ends were copied into processes forked after Pipe(): the
    one waiting, or a child of the one that made it."""
    made = trace.objects.get(item.event.obj or "")
    if made is None:
        return False
    forked = [
        p
        for p in trace.processes.values()
        if p.start is not None
        and p.start.t >= made.t
        # a forked process says so in its first event (a spawned one inherits no ends)
        and any(e.kind == "proc" and e.get("role") == "forked" for e in p.events[:1])
    ]
    me = item.process
    return any(p is me for p in forked) or (me.pid == made.pid and bool(forked))


def _diagnose_inherited_end(trace: Trace, item: Blocked) -> Diagnostic:
    """recv() waits for an end of file that cannot come: an inherited copy of the other end
    is still open (under fork a child gets both ends of every pipe made before it)."""
    event = item.event
    return Diagnostic(
        kind="hang_pipe_recv",
        file=event.file,
        line=event.line,
        message=_(
            "stuck here: recv() waits on a pipe{created} for a message or for the other end "
            "to be closed, and neither comes. recv() raises EOFError only when every copy of "
            "the other end is closed, and under fork each process started after Pipe() gets "
            "a copy of both ends: this process, or another one, still holds a copy of the "
            "other end that it never closed"
        ).format(created=_created(trace, event)),
        hint=_(
            "Right after start(), let each process close() the end it does not use (the "
            "parent the child's end, the child the parent's), or send an agreed last message "
            "such as None and stop on it."
        ),
    )


def _created(trace: Trace, event: Event) -> str:
    """`` (created at line N)`` for a traced queue, Event ...; empty when not known."""
    created = trace.objects.get(event.obj or "")
    if created is not None and created.line:
        return _(" (created at {line})").format(line=_line(created))
    return ""


def _diagnose_wait(trace: Trace, item: Blocked) -> Diagnostic:
    """wait() on an Event, a Condition or a Barrier (multiprocessing's or a Manager's)."""
    event = item.event
    what, where = event.get("what"), _created(trace, event)
    if what == "Barrier":
        message = _(
            "stuck here: wait() on a Barrier{where} that fewer processes reach than it waits for"
        ).format(where=where)
        hint = _(
            "A Barrier(n) lets its processes go only when n of them have called wait(): "
            "make n processes reach it, or give wait() a timeout."
        )
    elif what == "Condition":
        message = _(
            "stuck here: wait() on a Condition{where} that no process notifies any more"
        ).format(where=where)
        hint = _(
            "Call notify() or notify_all() after changing what the waiters check, and wait "
            "for that state itself (wait_for()): a notify sent before the wait is lost."
        )
    else:
        message = _("stuck here: wait() on an Event{where} that no process sets any more").format(
            where=where
        )
        hint = _(
            "Make sure some process calls set() on every path, or wait with a timeout "
            "(wait(timeout=...) returns False when it runs out)."
        )
    return Diagnostic(
        kind="hang_wait", file=event.file, line=event.line, message=message, hint=hint
    )


def _diagnose_queue(trace: Trace, item: Blocked) -> Diagnostic:
    event = item.event
    created = trace.objects.get(event.obj or "")
    where = _created(trace, event)
    if item.waits_in == "get":
        return Diagnostic(
            kind="hang_queue_get",
            file=event.file,
            line=event.line,
            message=_(
                "stuck here: get() waits on an empty queue{where} and no process puts anything "
                "more into it"
            ).format(where=where),
            hint=_(
                "Get only as many items as are put, or use get(timeout=...) / get(block=False) "
                "and handle queue.Empty."
            ),
        )
    size = created.get("maxsize") if created is not None else None
    limit = _(" (maxsize {size})").format(size=size) if isinstance(size, int) and size > 0 else ""
    return Diagnostic(
        kind="hang_queue_put",
        file=event.file,
        line=event.line,
        message=_(
            "stuck here: put() waits on a full queue{limit}{where} that no process reads from "
            "any more"
        ).format(limit=limit, where=where),
        hint=_(
            "Something must get() items out; put(block=False) raises queue.Full instead of waiting."
        ),
    )


def _diagnose_queue_join(trace: Trace, item: Blocked) -> Diagnostic:
    """join() of a JoinableQueue that cannot return: items taken without task_done(), or
    items left in the queue that no process will take (the consumer ended)."""
    event = item.event
    tag = event.obj
    taken = done = 0
    for other in trace.events:
        if other.obj != tag or other.get("outcome") != "ok":
            continue
        if other.kind == "get_done":
            taken += 1
        elif other.kind == "task_done":
            done += 1
    where = _created(trace, event)
    if taken > done:
        message = _(
            "stuck here: join() on a JoinableQueue{where} returns only once task_done() has "
            "been called for every item put into it, and items were taken out with get() "
            "without a task_done() call for them; no process left could still make that call"
        ).format(where=where)
        hint = _(
            "Call q.task_done() once for every item taken with get(), after handling it (in a "
            "finally: block, so that an exception does not skip it)."
        )
    else:
        message = _(
            "stuck here: join() on a JoinableQueue{where} returns only once task_done() has "
            "been called for every item put into it, and items are still in it that no "
            "process takes out any more (the consumer has ended, or waits elsewhere)"
        ).format(where=where)
        hint = _(
            "Keep a consumer taking items (get(), then task_done()) until join() returns: "
            "usually a daemon process that loops on get() for ever."
        )
    return Diagnostic(
        kind="hang_queue_join", file=event.file, line=event.line, message=message, hint=hint
    )


@dataclass(frozen=True)
class WaitNode:
    """One process of a stopped run in the wait-for graph.

    ``waits_in`` is as in :class:`Blocked` (``running`` when it was not blocked in a wait
    the harness sees); ``obj`` what it waits on (a lock, queue or pipe tag; for a join the
    child's pid); ``file``/``line`` where in the student's code (None: outside it, e.g.
    the exercise's driver); ``holds`` the locks it held, each with where it took it;
    ``waits_for`` the pids that alone can end its wait (the holders of its lock, the child
    it joins; empty for a queue, a pipe, an Event, a Condition or a Barrier, which any
    process could serve); ``what`` for a ``wait``: ``Event``, ``Condition`` or ``Barrier``.
    """

    pid: int
    name: str | None
    waits_in: str
    obj: str | None
    file: str | None
    line: int | None
    holds: tuple[tuple[str, str | None, int | None], ...]
    waits_for: tuple[int, ...]
    what: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {
            "pid": self.pid,
            "name": self.name,
            "waits_in": self.waits_in,
            "obj": self.obj,
            "file": self.file,
            "line": self.line,
            "holds": [{"lock": t, "file": f, "line": n} for t, f, n in self.holds],
            "waits_for": list(self.waits_for),
            "what": self.what,
        }


@dataclass(frozen=True)
class WaitForGraph:
    """Every process that had not ended when the run was stopped, and one cycle of
    ``waits_for`` edges if there is one (pids in order: each waits for the next, the last
    for the first; empty when there is none, e.g. a lock held by a process that ended)."""

    nodes: tuple[WaitNode, ...]
    cycle: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return {"nodes": [n.as_dict() for n in self.nodes], "cycle": list(self.cycle)}


def wait_for_graph(trace: Trace) -> WaitForGraph:
    """Who waited for whom when the run was stopped, from the trace alone."""
    holds = final_holds(trace)
    held_by: dict[int, list[tuple[str, Hold]]] = {}
    for tag, holders in holds.items():
        for process, hold in holders:
            held_by.setdefault(process.pid, []).append((tag, hold))
    nodes: list[WaitNode] = []
    for item in blocked_processes(trace):
        event = item.event
        waiting = item.waits_in != "running"
        if item.waits_in == "lock":
            waits_for = tuple(dict.fromkeys(p.pid for p, _hold in item.holders))
        elif item.waits_in == "join" and isinstance(event.get("child"), int):
            waits_for = (int(event.get("child")),)
        else:
            waits_for = ()
        obj = event.obj if item.waits_in != "join" else str(event.get("child"))
        nodes.append(
            WaitNode(
                pid=item.process.pid,
                name=item.process.name or item.process.role,
                waits_in=item.waits_in,
                obj=obj if waiting else None,
                file=event.file,
                line=event.line,
                holds=tuple(
                    (tag, hold.since.file, hold.since.line)
                    for tag, hold in held_by.get(item.process.pid, [])
                ),
                waits_for=waits_for,
                what=str(event.get("what")) if item.waits_in == "wait" else None,
            )
        )
    return WaitForGraph(tuple(nodes), _cycle(nodes))


def _cycle(nodes: list[WaitNode]) -> tuple[int, ...]:
    """A cycle of waits_for edges (a process waiting for itself is one), or ()."""
    edges = {node.pid: node.waits_for for node in nodes}
    for start in edges:
        path: list[int] = []
        seen: set[int] = set()
        pid: int | None = start
        while pid is not None and pid not in seen and pid in edges:
            seen.add(pid)
            path.append(pid)
            pid = edges[pid][0] if edges[pid] else None
        if pid is not None and pid in path:
            return tuple(path[path.index(pid) :])
    return ()


def _where(file: str | None, line: int | None) -> str:
    if file is not None and line:
        return _("{file}, line {line}").format(file=file, line=line)
    return _("the exercise's code")


def _waiting(node: WaitNode) -> str:
    """What one process was doing, in words, without its pid (pids differ in every run, and
    the same finding must read the same in each)."""
    where = _where(node.file, node.line)
    if node.waits_in == "lock":
        return _("waiting for a lock at {where}").format(where=where)
    if node.waits_in == "join":
        return _("waiting in join() at {where}").format(where=where)
    if node.waits_in in ("get", "put", "recv", "send"):
        return _("waiting in {call}() at {where}").format(call=node.waits_in, where=where)
    if node.waits_in == "queue_join":
        return _("waiting in {call}() at {where}").format(call="JoinableQueue.join", where=where)
    if node.waits_in == "wait" and node.what == "watch":
        if node.file is None or not node.line:
            return _("in the exercise's check, which waits for what the other processes do")
        return _(
            "in the exercise's check called at {where}, which waits for what the other processes do"
        ).format(where=where)
    if node.waits_in == "wait":
        call = f"{node.what or 'Event'}.wait"
        return _("waiting in {call}() at {where}").format(call=call, where=where)
    return _("in no wait the grader sees (last seen at {where})").format(where=where)


def _holders(node: WaitNode, by_pid: dict[int, WaitNode]) -> str:
    """Who holds the lock ``node`` waits for, in words."""
    if node.waits_in != "lock" or not node.waits_for:
        return ""
    if node.waits_for == (node.pid,):
        return _(", which it holds itself")
    others = [by_pid.get(pid) for pid in node.waits_for if pid != node.pid]
    states = sorted({_waiting(o) for o in others if o is not None})
    if not states:
        return _(", held by a process that has ended")
    return _(", held by a process {state}").format(state=_(" and one ").join(states))


def deadlock_diagnostic(graph: WaitForGraph) -> Diagnostic | None:
    """The one finding that says the run was deadlocked: what each stuck process waited
    for and who held it (the same words for the same deadlock in every run)."""
    if not graph.nodes:
        return None
    by_pid = {node.pid: node for node in graph.nodes}
    # Each distinct wait once, without how many processes were in it: that number follows
    # the scenario (4 buyers or 6), and the same deadlock must read the same in every run
    # so that it is said once (the wait-for graph keeps every process).
    parts = list(dict.fromkeys(_waiting(node) + _holders(node, by_pid) for node in graph.nodes))
    # point at the cycle when there is one (the join waiting for it is only a bystander)
    cycle = [by_pid[pid] for pid in graph.cycle]
    # (and at the student's own waits rather than the exercise's check watching them)
    first = next(
        (n for n in [*cycle, *graph.nodes] if n.file is not None and n.line and n.what != "watch"),
        graph.nodes[0],
    )
    return Diagnostic(
        kind="deadlock",
        file=first.file,
        line=first.line,
        message=_(
            "every process was waiting for another one, so none could ever go on (a "
            "deadlock); the run was stopped at once: {waits}"
        ).format(waits="; ".join(parts)),
    )
