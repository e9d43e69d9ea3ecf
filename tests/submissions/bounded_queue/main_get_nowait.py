# bounded_queue variant — main() drains with get_nowait() and stops at the first queue.Empty:
# whether the producer has put its next item by then is a matter of timing, so items are
# lost in some runs and not in others (drain() itself is correct).
from multiprocessing import Process, Queue
import queue


def producer(q, items):
    """Put every item into q, in order, then the sentinel None."""
    for item in items:
        q.put(item)  # blocks while the queue is full: nothing is lost
    q.put(None)


def drain(q):
    return [item for item in iter(q.get, None)]


def offer(q, item):
    try:
        q.put_nowait(item)
        return True
    except queue.Full:
        return False


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
    received = []
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            break  # nothing there right now: taken as "the producer is done"
        if item is None:
            break
        received.append(item)
    p.join(timeout=1)
    p.terminate()
    print(received)


if __name__ == '__main__':
    main()
