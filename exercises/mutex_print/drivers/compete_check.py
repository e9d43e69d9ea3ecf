"""mutex_print: task(name, lock) in three processes that compete for one lock.

The driver holds the lock while it starts the workers and lets go only when every worker
is waiting for it (or has ended without asking). From then on the workers take the lock
one after another, each the moment the previous one lets go, so a task() whose lock does
not cover both of its lines interleaves in every run, and one that never takes the lock
it was given is seen never taking it.
"""

import multiprocessing
import os
import sys
import time

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from mp_probe import LockProbe, Observations, wait  # noqa: E402


def drive(student, names):
    task = student.task
    seen = Observations()
    probe = LockProbe(names)
    workers = [multiprocessing.Process(target=task, args=(n, probe), name=n) for n in names]
    probe.hold()
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        asked = probe.asked()
        if all(asked[i] or not w.is_alive() for i, w in enumerate(workers)):
            break
        wait(0.005)
    waiting = sum(1 for count in probe.asked() if count)
    probe.release()
    seen.set(all_waiting=waiting == len(names), waiting=waiting)
    for worker in workers:
        worker.join()
    got = probe.got()
    seen.set(
        got=got,
        never_acquired=[n for n, count in zip(names, got) if not count],
        exitcodes=[w.exitcode for w in workers],
    )
