# bounded_queue variant — main() sleeps before its first timed get, then takes with
# get(True, 5) until the sentinel, and would stop on queue.Empty: what the producer put
# during the sleep is there, and each later item comes well within 5 s: no false failure
from multiprocessing import Process, Queue
import queue
import time


def producer(q, items):
    """Put every item into q, in order, then the sentinel None."""
    for item in items:
        q.put(item)  # blocks while the queue is full: nothing is lost
    q.put(None)


def drain(q):
    return [item for item in iter(q.get, None)]


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
    time.sleep(0.5)  # give the producer a head start
    received = []
    while True:
        try:
            item = q.get(True, 5)
        except queue.Empty:
            break  # nothing within 5 s: taken as "the producer is done"
        if item is None:
            break
        received.append(item)
    p.join()
    print(received)


if __name__ == '__main__':
    main()
