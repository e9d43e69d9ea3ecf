"""Helpers of the bounded_queue drivers (standard library only).

- ``Observations``: what a driver saw, rewritten to ``observed.json`` after every change
  (new file renamed over the old one), so a run that is stopped still leaves what was seen.
- ``call``: call a student function in a thread and wait a bounded real time, so one that
  blocks for ever is reported as "blocked" instead of hanging the run.
- ``wait``: a real pause. ``time.sleep`` is dilated in graded runs; the drivers' own
  pauses must not be.
- ``until_producers_meet_full``: wait until the producers have filled the queue and then
  each either ended or blocked, so every producer really tries a put on a full queue before
  anything is taken: one that drops items or crashes on queue.Full does so in every run.
"""

import json
import os
import threading
import time
import traceback

try:  # the grader's harness, in a graded run: tells it which of our waits only watch
    import _ipcgrader_trace as _harness
except ImportError:  # run by hand
    _harness = None

OBSERVED = "observed.json"


class Watch:
    """A polling loop of the driver's whose only ways out are what other processes do (a
    queue filling, a producer ending), told to the grader: when every other process of the
    run is stuck for good, the run is judged deadlocked at once, instead of this loop
    looking until the wall timeout."""

    def __init__(self):
        self.slot = 0

    def idle(self):
        """This look found nothing to act on; the loop looks again."""
        if _harness is not None:
            self.slot = _harness.watched(self.slot)

    def busy(self):
        """Something happened (or the loop ends): no longer only watching."""
        if _harness is not None and self.slot:
            _harness.unwatched(self.slot)
        self.slot = 0


def wait(seconds):
    threading.Event().wait(seconds)


def _main_thread(pid):
    """(state, CPU time) of the main thread of ``pid``; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat", "rb") as handle:
            cpu = int(handle.read().split()[0])  # nanoseconds on a CPU
    except (OSError, ValueError, IndexError):
        cpu = int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return fields[0].decode(), cpu


def blocked_or_gone(pid, interval=0.02):
    """Whether ``pid``'s main thread is ended, or sleeping and using no CPU for
    ``interval`` (blocked in a put on a full queue, say). A thread merely waiting its turn
    for the GIL runs again within 5 ms, so it shows CPU time over the interval."""
    first = _main_thread(pid)
    if first is None or first[0] in "ZX":
        return True
    wait(interval)
    second = _main_thread(pid)
    if second is None or second[0] in "ZX":
        return True
    return first[0] in "SD" and second[0] in "SD" and first[1] == second[1]


def until_producers_meet_full(q, processes, longest=1.0):
    """Wait (real time) until every one of ``processes`` has ended, or ``q`` is full and
    each live one is blocked. A producer that keeps running on a full queue (retrying
    put_nowait in a loop) is waited for ``longest`` seconds at most."""
    full_since = None
    watch = Watch()
    try:
        while True:
            alive = [p for p in processes if p.is_alive()]
            if not alive:
                return
            if q.full():
                watch.busy()
                if all(blocked_or_gone(p.pid) for p in alive):
                    return
                now = time.monotonic()
                full_since = full_since or now
                if now - full_since > longest:
                    return
            else:
                # only a put or a producer's end gets us out of here (a producer blocked
                # elsewhere, say on a queue of its own, never does: a deadlock)
                watch.idle()
                full_since = None
                wait(0.005)
    finally:
        watch.busy()


def label(value):
    """Values as the checks compare them: strings as they are, anything else as repr."""
    return value if isinstance(value, str) else repr(value)


def student_line(tb):
    """'drain.py:12' for the innermost traceback frame in the student's folder, or ''."""
    here = os.path.abspath(os.getcwd())
    found = ""
    for frame in traceback.extract_tb(tb):
        path = os.path.abspath(frame.filename)
        if os.path.dirname(path) == here:
            found = f"{os.path.basename(path)}:{frame.lineno}"
    return found


class Observations:
    def __init__(self, path=OBSERVED):
        self.path = path
        self.data = {}
        self.pid = os.getpid()
        self.lock = threading.Lock()

    def set(self, **values):
        with self.lock:
            self.data.update(values)
            if os.getpid() != self.pid:  # a forked child must not overwrite the parent's
                return
            temporary = f"{self.path}.{os.getpid()}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, ensure_ascii=False, default=repr)
            os.replace(temporary, self.path)


class Call:
    """How a call of a student function ended: returned, raised or blocked."""

    def __init__(self):
        self.outcome = "blocked"
        self.value = None
        self.exception = ""
        self.where = ""
        self.done = threading.Event()


def call(function, *args, limit=1.0, until=None, longest=5.0, cpu=None):
    """Run ``function(*args)`` in a daemon thread; give up waiting after ``limit`` real
    seconds, counted from when ``until`` (an Event) is set if given, ``longest`` at most;
    or, with ``cpu``, once this process has used ``cpu`` more seconds of CPU time (a
    function that spins: given up on well before the run's CPU budget stops the whole run,
    however fast the machine lets it spin, so the run is judged on what was seen in every
    grading, not stopped in some and not in others)."""
    result = Call()
    began = time.process_time()

    def spun():
        return cpu is not None and time.process_time() - began > cpu

    def run():
        try:
            result.value = function(*args)
            result.outcome = "returned"
        except Exception as exc:
            result.outcome = "raised"
            result.exception = type(exc).__name__
            result.where = student_line(exc.__traceback__)
            traceback.print_exc()  # the student sees it; no_exception checks read it
        finally:
            result.done.set()

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + longest
    if until is not None:
        while not result.done.is_set() and not until.wait(0.01):
            if time.monotonic() > deadline or spun():
                return result
    end = min(time.monotonic() + limit, deadline)
    while not result.done.wait(max(0.0, min(0.05, end - time.monotonic()))):
        if time.monotonic() >= end or spun():
            break
    return result
