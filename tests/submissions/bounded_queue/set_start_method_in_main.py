# 有界队列 (bounded queue) — the reference solution with set_start_method('fork') in main(): it works
# as in `python drain.py`; the run of main() meant for spawn runs under fork, and is said to
from multiprocessing import Process, Queue, set_start_method
import queue


def producer(q, items):
    """Put every item into q, in order, then the sentinel None."""
    for item in items:
        q.put(item)  # blocks while the queue is full: nothing is lost
    q.put(None)


def drain(q):
    """Get items from q until the sentinel None; return them as a list, in order."""
    received = []
    while True:
        item = q.get()  # blocks until something comes: no busy loop, no q.empty()
        if item is None:
            return received
        received.append(item)


def offer(q, item):
    """Put item into q without waiting. Return True if it went in, False if q was full."""
    try:
        q.put(item, block=False)
    except queue.Full:
        return False
    return True


def poll(q, timeout):
    """Get one item from q, waiting at most timeout seconds. Return None if none came."""
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


def main():
    set_start_method('fork')  # as the course suggests on macOS
    q = Queue(3)
    p = Process(target=producer, args=(q, list(range(10))))
    p.start()
    received = drain(q)  # drain first: the producer needs room to finish
    p.join()
    print(received)


if __name__ == '__main__':
    main()
