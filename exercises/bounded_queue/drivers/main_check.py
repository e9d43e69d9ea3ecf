"""bounded_queue: the student's main(), watched from inside the main process.

Queue.get(), Process.start() and Process.join() are wrapped (in the main process only):

- before the first get(), wait until the producer has filled the queue and then ended or
  blocked (bq_probe.until_producers_meet_full), so a producer that drops items on
  queue.Full drops them in every run;
- a join() of a live producer before main() got the sentinel, while a queue main() made is
  full, is a deadlock for certain: the producer waits for room that only a get() can make,
  and main() is in join(). The driver records it, stops the processes and exits with
  status 1 instead of hanging until the timeout. Not for a producer main() terminated or
  killed (multiprocessing joins it at exit: on a loaded machine it may take a while to
  die, with the queue still full);
- a blocking get() while no child is alive any more waits for items that cannot come
  (the producer ended without its sentinel, or main() asks for more after it): recorded,
  stopped, status 1. The student's blocking get() stays one blocking get() (the trace
  records what the student wrote, never a poll of ours): a watchdog thread sees that no
  child is left and wakes it with a marker of the driver's own, never handed to main().
"""

import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import multiprocessing.reduction
import os
import sys
import threading

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from bq_probe import Observations, until_producers_meet_full, wait  # noqa: E402

#: what the watchdog sends to wake a get() that waits for items no process can put
WAKE = "ipcgrader: no producer is left"

#: functions of this driver that pass the student's own call on as it is: the harness
#: treats a timed get() made through them as the student's (docs/trace.md)
IPCGRADER_FORWARDS = ("get",)


#: held by whoever reaps children here (active_children(), join(), exitcode): two threads
#: waiting for the same child race, and the loser's join() returns with no exit code
REAPING = threading.RLock()


def wake_when_starved(q, done):
    """Until ``done`` is set: once no child process has been alive for three looks in a row
    (0.15 s), write WAKE straight into ``q``'s pipe (not through put(): nothing of the
    student's queue is used or traced) and return True. False when ``done`` came first."""
    misses = 0
    while not done.is_set():
        alive = True  # a join() in progress reaps: this look is skipped, never waited for
        if REAPING.acquire(blocking=False):
            try:
                alive = bool(multiprocessing.active_children())
            finally:
                REAPING.release()
        misses = 0 if alive else misses + 1
        if misses >= 3:
            data = multiprocessing.reduction.ForkingPickler.dumps(WAKE)
            q._sem.acquire(False)  # as put() does: the get() that takes WAKE releases it
            lock = getattr(q, "_wlock", None)
            # (bounded: a writer killed while it wrote would hold it for ever)
            locked = lock is not None and lock.acquire(timeout=1.0)
            try:
                q._writer.send_bytes(data)
            finally:
                if locked:
                    lock.release()
            return True
        wait(0.05)
    return False


def stop(seen, **facts):
    """Record why the run cannot go on, stop the children and end with status 1.

    SystemExit rather than os._exit, so the queues' finalizers still run (no leaked
    semaphores); nothing is printed, the observations say what happened.
    """
    seen.set(**facts)
    with REAPING:
        for child in multiprocessing.active_children():
            child.kill()
            child.join()
    raise SystemExit(1)


def drive(student):
    main = student.main
    seen = Observations()
    me = os.getpid()
    gets = [0]
    sentinel, queues = [False], []
    started, joined = set(), set()
    seen.set(started=0, joined=0, gets=0, deadlock=False, starved=False, got_sentinel=False)

    real_init = multiprocessing.queues.Queue.__init__
    real_get = multiprocessing.queues.Queue.get
    real_start = multiprocessing.process.BaseProcess.start
    real_join = multiprocessing.process.BaseProcess.join
    real_terminate = multiprocessing.process.BaseProcess.terminate
    real_kill = multiprocessing.process.BaseProcess.kill
    ended = set()  # children main() terminated or killed: they end without a get

    def settle(q):
        with REAPING:
            children = multiprocessing.active_children()
        until_producers_meet_full(q, children)

    def get(self, block=True, timeout=None):
        if os.getpid() != me:
            return real_get(self, block, timeout)
        if gets[0] == 0:
            settle(self)
        if not block or timeout is not None:
            item = real_get(self, block, timeout)
        else:
            done = threading.Event()
            watchdog = threading.Thread(target=wake_when_starved, args=(self, done), daemon=True)
            watchdog.start()
            try:
                item = real_get(self)
            finally:
                done.set()
            if isinstance(item, str) and item == WAKE:
                stop(seen, starved=True, gets=gets[0], got_sentinel=sentinel[0])
        gets[0] += 1
        sentinel[0] = sentinel[0] or item is None
        return item

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if os.getpid() == me:
            queues.append(self)

    def start(self):
        real_start(self)
        if os.getpid() == me:
            started.add(id(self))
            seen.set(started=len(started))

    def join(self, timeout=None):
        if os.getpid() != me:
            return real_join(self, timeout)
        with REAPING:
            if timeout is None and not sentinel[0] and id(self) not in ended:
                while self.exitcode is None:
                    real_join(self, 0.05)
                    if self.exitcode is None and any(q.full() for q in queues):
                        stop(seen, deadlock=True, gets=gets[0])
            real_join(self, timeout)
            if self.exitcode is not None:
                joined.add(id(self))
                seen.set(joined=len(joined), gets=gets[0])

    def terminate(self):
        ended.add(id(self))
        real_terminate(self)

    def kill(self):
        ended.add(id(self))
        real_kill(self)

    multiprocessing.queues.Queue.__init__ = init
    multiprocessing.process.BaseProcess.terminate = terminate
    multiprocessing.process.BaseProcess.kill = kill
    multiprocessing.queues.Queue.get = get
    multiprocessing.process.BaseProcess.start = start
    multiprocessing.process.BaseProcess.join = join
    main()
    seen.set(
        unjoined=len(started - joined),
        all_joined=bool(started) and not started - joined,
        gets=gets[0],
    )
