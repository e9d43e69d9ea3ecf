# bounded_queue variant — fork-only: producer() puts into a module-level queue instead of its q parameter.
from multiprocessing import Process, Queue
import queue


jobs = Queue(3)


def producer(q, items):
    for item in items:
        jobs.put(item)  # the shared queue
    jobs.put(None)


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
    p = Process(target=producer, args=(jobs, list(range(10))))
    p.start()
    received = drain(jobs)
    p.join()
    print(received)


if __name__ == '__main__':
    main()
