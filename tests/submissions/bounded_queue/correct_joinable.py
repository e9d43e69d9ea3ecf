# bounded_queue variant — correct: main() takes from a JoinableQueue with its own loop,
# marking each item done with task_done(), so its q.join() returns.
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
    received = []
    while True:
        item = q.get()
        q.task_done()
        if item is None:
            break
        received.append(item)
    q.join()  # returns: every item taken was marked done
    p.join()
    print(received)


if __name__ == '__main__':
    main()
