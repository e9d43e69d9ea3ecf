"""bounded_queue: the student's offer() on a full queue and poll() with a timeout."""

import multiprocessing
import os
import sys
import threading

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from bq_probe import Observations, call, label, wait  # noqa: E402

#: when the late item arrives after poll() first asks for it (real s); poll's timeout is 5 s
LATE_S = 0.3


class LateQueue:
    """A queue that receives an item LATE_S after the first get() is started."""

    def __init__(self, q):
        self._q = q
        self._scheduled = False

    def _schedule(self):
        if not self._scheduled:
            self._scheduled = True

            def later():
                wait(LATE_S)
                self._q.put("late")

            threading.Thread(target=later, daemon=True).start()

    def get(self, block=True, timeout=None):
        nonblocking = not block or (timeout is not None and timeout <= 0)
        if nonblocking:  # look first, then schedule: the look finds nothing, always
            try:
                return self._q.get(block, timeout)
            finally:
                self._schedule()
        self._schedule()
        return self._q.get(block, timeout)

    def get_nowait(self):
        return self.get(False)

    def empty(self):
        try:
            return self._q.empty()
        finally:
            self._schedule()

    def __getattr__(self, name):
        return getattr(self._q, name)


def first_problem(calls):
    for c in calls:
        if c.outcome != "returned":
            return c
    return None


def drive(student, maxsize=2):
    offer, poll = student.offer, student.poll
    seen = Observations()

    q = multiprocessing.Queue(maxsize)
    offers = []
    for item in ["a", "b", "c"][: maxsize + 1]:
        offers.append(call(offer, q, item, limit=3.0))
        if offers[-1].outcome != "returned":
            break
    bad = first_problem(offers)
    seen.set(
        offers=[c.value if c.outcome == "returned" else c.outcome for c in offers],
        offer_exception=bad.exception if bad else "",
        offer_where=bad.where if bad else "",
        offer_blocked=bool(bad) and bad.outcome == "blocked",
    )

    q2 = multiprocessing.Queue(maxsize)
    q2.put("x")
    q2.put("y")
    wait(0.05)  # let the feeder thread move them into the pipe
    polls = [call(poll, q2, 5.0, limit=6.0), call(poll, q2, 5.0, limit=6.0)]
    polls.append(call(poll, q2, 0.05, limit=3.0))
    if first_problem(polls) is None:
        polls.append(call(poll, LateQueue(q2), 5.0, limit=6.0))
    bad = first_problem(polls)
    seen.set(
        polls=[label(c.value) if c.outcome == "returned" else c.outcome for c in polls],
        poll_exception=bad.exception if bad else "",
        poll_where=bad.where if bad else "",
        poll_blocked=bool(bad) and bad.outcome == "blocked",
    )
