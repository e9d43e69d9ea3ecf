# 有界队列 (bounded queue) — starter code. Read README.md first.
#
# A multiprocessing.Queue(3) holds at most 3 items: put() on a full queue waits until
# someone takes one, get() on an empty queue waits until someone puts one. With
# block=False they raise queue.Full / queue.Empty instead of waiting, and with timeout=
# they wait at most that long and then raise.
from multiprocessing import Process, Queue
import queue


def producer(q, items):
    """Put every item into q, in order, then the sentinel None."""
    # TODO


def drain(q):
    """Get items from q until the sentinel None; return them as a list, in order."""
    received = []
    # TODO
    return received


def offer(q, item):
    """Put item into q without waiting. Return True if it went in, False if q was full."""
    # TODO
    return False


def poll(q, timeout):
    """Get one item from q, waiting at most timeout seconds. Return None if none came."""
    # TODO
    return None


def main():
    q = Queue(3)
    # TODO: start a producer process that puts list(range(10)) into q,
    #       drain q here in the main process, join the producer, print(received)


if __name__ == '__main__':
    main()
