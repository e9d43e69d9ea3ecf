# bounded_queue variant — wrong: producer() and offer() let queue.Full escape.
from multiprocessing import Process, Queue
import queue


def producer(q, items):
    for item in items:
        q.put(item, block=False)
    q.put(None, block=False)


def drain(q):
    """Get items from q until the sentinel None; return them as a list, in order."""
    received = []
    while True:
        item = q.get()  # blocks until something comes: no busy loop, no q.empty()
        if item is None:
            return received
        received.append(item)


def offer(q, item):
    q.put(item, block=False)
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
