"""bounded_queue: the student's producer() in a child process, a careful consumer here.

The consumer takes nothing until the queue is full and the producer has then ended or
blocked (or it ended without filling it), so every producer meets a full queue, whatever
the timing: one that drops items on queue.Full, or crashes on it, does so in every run.
It stops at the sentinel, or once the producer has ended and the queue stays empty: no
time limit decides what the producer did.
"""

import multiprocessing
import os
import queue
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from bq_probe import Observations, until_producers_meet_full  # noqa: E402


def drive(student, count, maxsize):
    producer = student.producer
    seen = Observations()
    items = list(range(count))
    q = multiprocessing.Queue(maxsize)
    process = multiprocessing.Process(target=producer, args=(q, items), name="producer")
    seen.set(received=[], got_sentinel=False, missing=items, crashed=False, hung=False)
    process.start()
    until_producers_meet_full(q, [process])
    seen.set(full_seen=q.full())
    received, got_sentinel, misses = [], False, 0
    while misses < 3:  # the queue stays empty while the producer is gone: nothing will come
        alive = process.is_alive()
        try:
            item = q.get(timeout=0.05)
        except queue.Empty:
            misses = 0 if alive else misses + 1
            continue
        if item is None:
            got_sentinel = True
            break
        received.append(item)
        seen.set(received=received)
    process.join(3.0)
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
