"""bounded_queue: the student's drain() against a producer that pauses.

drain() gets a stand-in for the queue that records every call. A feeder thread puts the
first items only once drain() has touched the queue, then pauses until drain() has taken
them all and asks for more (the queue is empty right then, for certain), waits a little
longer, and puts the rest and the sentinel None. So a drain() that stops on q.empty(), on
a timeout or on a failed get(block=False) stops early in every run, and one that polls an
empty queue in a loop is caught polling it.
"""

import multiprocessing
import os
import queue
import sys
import threading
import time

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from bq_probe import Observations, call, wait  # noqa: E402

#: how long the feeder keeps the queue empty once drain() has found it empty (real s)
PAUSE_S = 0.3


class QueueProbe:
    """Delegates to a real multiprocessing.Queue and records how drain() uses it."""

    def __init__(self, q, pause_after):
        self._q = q
        self.pause_after = pause_after
        self.touched = threading.Event()
        self.starved = threading.Event()
        self.starved_timeout = 0.0
        self.taken = []
        self.sentinel = False
        self.polls_on_empty = 0
        self.last = ""

    def _asked(self, timeout=0.0):
        if len(self.taken) >= self.pause_after and not self.starved.is_set():
            self.starved_timeout = timeout or 0.0
            self.starved.set()

    def get(self, block=True, timeout=None):
        nonblocking = not block or (timeout is not None and timeout <= 0)
        if not nonblocking:
            self.touched.set()
            self._asked(timeout)
        try:
            item = self._q.get(block, timeout)
        except queue.Empty:
            if nonblocking:
                self.polls_on_empty += 1
            self.last = "nonblocking" if nonblocking else "timeout"
            raise
        finally:
            if nonblocking:  # looked first, then told the feeder: the look found nothing
                self.touched.set()
                self._asked()
        if item is None:
            self.sentinel = True
            self.last = "sentinel"
        else:
            self.taken.append(item)
            self.last = "item"
        return item

    def get_nowait(self):
        return self.get(False)

    def empty(self):
        result = self._q.empty()
        self.touched.set()
        self._asked()
        if result:
            self.polls_on_empty += 1
            self.last = "empty"
        return result

    def qsize(self):
        result = self._q.qsize()
        self.touched.set()
        self._asked()
        if result == 0:
            self.polls_on_empty += 1
            self.last = "empty"
        return result

    def __getattr__(self, name):
        return getattr(self._q, name)


def feed(probe, q, items, pause_after, done):
    probe.touched.wait(5.0)
    for item in items[:pause_after]:
        q.put(item)
    probe.starved.wait(5.0)
    wait(min(1.0, max(PAUSE_S, probe.starved_timeout + 0.1)))
    for item in items[pause_after:]:
        q.put(item)
    q.put(None)
    done.set()


def drive(student, count, maxsize, pause_after=3):
    drain = student.drain
    seen = Observations()
    items = list(range(count))
    q = multiprocessing.Queue(maxsize)
    probe = QueueProbe(q, pause_after)
    fed = threading.Event()
    threading.Thread(target=feed, args=(probe, q, items, pause_after, fed), daemon=True).start()
    started = time.monotonic()
    # a drain() that spins is given up on after 1.5 s of CPU (the run may use 3 s)
    result = call(drain, probe, limit=3.0, until=fed, longest=15.0, cpu=1.5)
    returned = result.value if result.outcome == "returned" else None
    received = list(returned) if isinstance(returned, (list, tuple)) else []
    seen.set(
        outcome=result.outcome,
        exception=result.exception,
        where=result.where,
        # what drain() returned: nothing when it did not return (raised, or still running),
        # whatever it had taken from the queue by then (that is in ``taken``)
        received=received,
        returned_type=type(returned).__name__,
        has_none=None in received,
        taken=len(probe.taken),
        got_sentinel=probe.sentinel,
        stop=probe.last if result.outcome == "returned" else result.outcome,
        polls_on_empty=probe.polls_on_empty,
        seconds=round(time.monotonic() - started, 3),
    )
