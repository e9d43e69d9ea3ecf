# bounded_queue variant — main() waits in q.join() of a JoinableQueue whose items drain()
# takes without ever calling task_done(): join() can never return (a deadlock).
from multiprocessing import JoinableQueue, Process
import queue


def producer(q, items):
    """Put every item into q, in order, then the sentinel None."""
    for item in items:
        q.put(item)
    q.put(None)


def drain(q):
    """Get items from q until the sentinel None; return them as a list, in order."""
    received = []
    while True:
        item = q.get()
        if item is None:
            return received
        received.append(item)


def offer(q, item):
    try:
        q.put_nowait(item)
        return True
    except queue.Full:
        return False


def poll(q, timeout):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


def main():
    q = JoinableQueue(3)
    p = Process(target=producer, args=(q, list(range(10))))
    p.start()
    received = drain(q)
    q.join()  # waits for a task_done() per item: drain() never calls it
    p.join()
    print(received)


if __name__ == '__main__':
    main()
