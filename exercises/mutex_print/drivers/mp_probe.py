"""Helpers of the mutex_print drivers (standard library only).

``LockProbe`` is the lock the drivers hand to task(name, lock): a real multiprocessing
Lock that also counts, per worker, how often the worker asked for it and got it. It is
pickled into spawned children, so it lives in this importable module (the driver puts this
folder on sys.path, which spawned children inherit). Its counters are raw shared memory,
one slot per worker, each written only by that worker: no extra locks are involved.
"""

import json
import multiprocessing
import os
import threading


class LockProbe:
    def __init__(self, names):
        self._lock = multiprocessing.Lock()
        self._names = list(names)
        self._asked = multiprocessing.RawArray("i", len(names))
        self._got = multiprocessing.RawArray("i", len(names))

    def _slot(self):
        name = multiprocessing.current_process().name
        return self._names.index(name) if name in self._names else -1

    def acquire(self, block=True, timeout=None):
        slot = self._slot()
        if slot >= 0:
            self._asked[slot] += 1
        if timeout is None:
            got = self._lock.acquire(block)
        else:
            got = self._lock.acquire(block, timeout)
        if got and slot >= 0:
            self._got[slot] += 1
        return got

    def release(self):
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    # --- the driver's side -------------------------------------------------------------

    def hold(self):
        self._lock.acquire()

    def asked(self):
        return list(self._asked)

    def got(self):
        return list(self._got)


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


def wait(seconds):
    """A real pause (time.sleep is dilated in graded runs)."""
    threading.Event().wait(seconds)
