"""join_order: call run_all(specs) or run_in_order(specs) and record, in the main
process, the order of every Process.start() and completed Process.join().

From that order the checks know for certain whether the workers could overlap (all
started before the first join) or were serialised (each started only after the previous
one was joined), whatever the machine's load.

Time is judged the same way, relative to the run itself rather than to fixed numbers:
``busy`` adds up each worker's time from its start() to the return of its join(). Workers
run one after another fill the call end to end, so its elapsed time is at least ``busy``;
workers that overlap make it a fraction of ``busy``. A loaded machine stretches both.
Sleeps are dilated in graded runs (time.sleep(s) lasts s * IPCGRADER_DILATION seconds);
``longest`` and ``total`` are the specs' sleeps in that dilated time.

Observations go to observed.json, rewritten after every event.

A call that starts more processes than twice the specs is going round a loop that starts
them again after joining them (``while True:`` around the start and join loops): a
correct one starts each exactly once. Its next start() is refused, the processes it
started are joined, and the call is given up with ``pattern = "restarted"``. The count of
start() calls, not a clock, decides it: the same in every run, whatever the load, and the
run is judged at once instead of at the wall timeout.
"""

import json
import multiprocessing.process
import os
import threading
import time


class Observations:
    def __init__(self, path="observed.json"):
        self.path, self.data, self.pid = path, {}, os.getpid()
        self.lock = threading.Lock()

    def set(self, **values):
        with self.lock:
            self.data.update(values)
            if os.getpid() != self.pid:
                return
            temporary = f"{self.path}.{self.pid}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, ensure_ascii=False, default=repr)
            os.replace(temporary, self.path)


def worker_name(process):
    """The task's name argument (start() deletes _args, so it is kept on the process)."""
    if not hasattr(process, "_joins_check_name"):
        args = getattr(process, "_args", ())
        process._joins_check_name = str(args[0]) if args else process.name
    return process._joins_check_name


def pattern_of(events):
    """'concurrent', 'serial', 'mixed', 'unjoined' or 'none', from the start/join order."""
    started = [name for kind, name in events if kind == "start"]
    joined = {name for kind, name in events if kind == "join"}
    if not started:
        return "none"
    if set(started) - joined:
        return "unjoined"
    if len(started) == 1:
        return "single"
    first_join = next(i for i, (kind, _) in enumerate(events) if kind == "join")
    if all(i < first_join for i, (kind, _) in enumerate(events) if kind == "start"):
        return "concurrent"
    done = set()
    for kind, name in events:
        if kind == "join":
            done.add(name)
        elif set(started[: started.index(name)]) - done:
            return "mixed"
    return "serial"


class Restarted(BaseException):
    """Raised by start() to leave a call that keeps starting its processes again (a
    BaseException: a student's ``except Exception`` does not swallow it)."""


def drive(student, mode, specs):
    run = student.run_all if mode == "all" else student.run_in_order
    seen = Observations()
    dilation = float(os.environ.get("IPCGRADER_DILATION") or 1.0)
    secs = [sec for _, sec in specs]
    me = os.getpid()
    events = []
    seen.set(
        longest=round(max(secs) * dilation, 4),
        total=round(sum(secs) * dilation, 4),
        events=events,
        pattern="none",
    )

    real_start = multiprocessing.process.BaseProcess.start
    real_join = multiprocessing.process.BaseProcess.join

    watching = [True]  # joins made at exit by multiprocessing itself are not the student's

    started_at, ended_at = {}, {}

    def start(self):
        worker_name(self)
        if os.getpid() == me and watching[0]:
            starts = sum(1 for kind, _ in events if kind == "start")
            if starts >= 2 * len(specs):
                raise Restarted
        began = time.monotonic()
        real_start(self)
        if os.getpid() == me and watching[0]:
            started_at[worker_name(self)] = began
            events.append(("start", worker_name(self)))
            seen.set(events=events, pattern=pattern_of(events))

    def join(self, timeout=None):
        real_join(self, timeout)
        if os.getpid() == me and watching[0] and self.exitcode is not None:
            if ("join", worker_name(self)) not in events:
                ended_at[worker_name(self)] = time.monotonic()
                events.append(("join", worker_name(self)))
                seen.set(events=events, pattern=pattern_of(events))

    multiprocessing.process.BaseProcess.start = start
    multiprocessing.process.BaseProcess.join = join
    began = time.monotonic()
    try:
        value = run([(name, sec) for name, sec in specs])
    except Restarted:
        watching[0] = False
        for child in multiprocessing.active_children():
            real_join(child)  # they end by themselves: what they print is the same each run
        seen.set(
            pattern="restarted", restarted=True, returned=-1.0, returned_repr="", ratio=0.0,
            measured=0.0, busy=0.0, span=0.0, unjoined=[],
        )  # fmt: skip
        return
    returned_at = time.monotonic()
    measured = returned_at - began
    watching[0] = False
    busy = sum(ended_at.get(name, returned_at) - at for name, at in started_at.items())
    # from the first start() to the last join() that returned: any honest elapsed time that
    # run_all() measures around its own work is at least this long
    span = max(ended_at.values()) - min(started_at.values()) if ended_at else 0.0
    # elapsed / busy: >= 1 when the workers ran one after another, about 1/n when all n
    # overlapped; 0 when some were never joined (that is the structure check's finding)
    all_joined = started_at and set(started_at) <= set(ended_at)
    ratio = measured / busy if all_joined and busy > 0 else 0.0
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    started = {name for kind, name in events if kind == "start"}
    joined = {name for kind, name in events if kind == "join"}
    seen.set(
        measured=round(measured, 4),
        busy=round(busy, 4),
        span=round(span, 4),
        ratio=round(ratio, 4),
        returned=float(value) if number else -1.0,
        returned_repr=repr(value)[:80],
        pattern=pattern_of(events),
        unjoined=sorted(started - joined),
    )
