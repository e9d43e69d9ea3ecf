"""bounded_queue: the student's producer() in a child process, a careful consumer here.

The consumer takes nothing until the queue is full (or the producer has ended), so every
producer meets a full queue, whatever the timing: one that drops items on queue.Full, or
crashes on it, does so in every run.
"""

import multiprocessing
import os
import queue
import sys
import time

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from bq_probe import Observations, wait  # noqa: E402


def drive(student, count, maxsize):
    producer = student.producer
    seen = Observations()
    items = list(range(count))
    q = multiprocessing.Queue(maxsize)
    process = multiprocessing.Process(target=producer, args=(q, items), name="producer")
    seen.set(received=[], got_sentinel=False, missing=items, crashed=False, hung=False)
    process.start()
    deadline = time.monotonic() + 3.0
    while process.is_alive() and not q.full() and time.monotonic() < deadline:
        wait(0.005)
    seen.set(full_seen=q.full())
    received, got_sentinel = [], False
    while True:
        try:
            item = q.get(timeout=1.0)
        except queue.Empty:
            break
        if item is None:
            got_sentinel = True
            break
        received.append(item)
        seen.set(received=received)
    process.join(1.0)
    hung = process.exitcode is None
    if hung:
        process.terminate()
        process.join()
    missing = [item for item in items if item not in received]
    seen.set(
        received=received,
        got_sentinel=got_sentinel,
        missing=missing,
        exitcode=process.exitcode,
        crashed=not hung and process.exitcode != 0,
        hung=hung,
    )
