# bounded_queue variant — correct: put(timeout=) retried until it succeeds, get(timeout=) retried until the sentinel.
from multiprocessing import Process, Queue
import queue


def producer(q, items):
    for item in items:
        while True:
            try:
                q.put(item, timeout=0.1)
                break
            except queue.Full:
                continue  # still full: try again, never drop the item
    q.put(None)


def drain(q):
    received = []
    while True:
        try:
            item = q.get(timeout=0.5)
        except queue.Empty:
            continue  # the producer is slow, not finished
        if item is None:
            break
        received.append(item)
    return received


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
    q = Queue(3)
    p = Process(target=producer, args=(q, list(range(10))))
    p.start()
    received = drain(q)  # drain first: the producer needs room to finish
    p.join()
    print(received)


if __name__ == '__main__':
    main()
