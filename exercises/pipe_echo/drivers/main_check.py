"""pipe_echo: the student's main(), watched from inside the main process.

Pipe(), Process.start(), Process.join() and Connection.send()/recv() are wrapped in the
main process to record which ends main() made, which it handed to the server, which it
used itself and which it left open. Two waits that can never end are stopped (status 1)
instead of hanging the run, and recorded:

- main() waits in recv() on an end it also gave to the server: both processes read the
  same end, and what main() sent went to the other end, which nobody reads;
- main() waits in recv() or join() while the server can no longer answer or end (a server
  started by fork holds a copy of main()'s end: closing it in main() is no EOF there).
"""

import multiprocessing
import multiprocessing.connection
import multiprocessing.process
import os
import sys
import time

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from pe_probe import Observations  # noqa: E402

#: how long main() may wait for a reply on a shared end, or for a join (real s)
GRACE_S = 1.0


def drive(student):
    main = student.main
    seen = Observations()
    me = os.getpid()
    made, handed, used = [], set(), set()
    sent_none = [False]
    started, joined = set(), set()
    seen.set(shared_end=False, deadlock="", started=0, inherited_end=False)

    real_pipe = multiprocessing.connection.Pipe
    connection = multiprocessing.connection._ConnectionBase
    real_send, real_recv = connection.send, connection.recv
    real_start = multiprocessing.process.BaseProcess.start
    real_join = multiprocessing.process.BaseProcess.join

    def stop(**facts):
        seen.set(**facts)
        for child in multiprocessing.active_children():
            child.kill()
            child.join()
        raise SystemExit(1)

    def pipe(*args, **kwargs):
        ends = real_pipe(*args, **kwargs)
        if os.getpid() == me:
            made.extend(ends)
        return ends

    def note_use(conn):
        used.add(id(conn))
        if id(conn) in handed:
            seen.set(shared_end=True)

    def send(self, obj):
        if os.getpid() == me:
            note_use(self)
            sent_none[0] = sent_none[0] or obj is None
        return real_send(self, obj)

    def recv(self):
        if os.getpid() != me:
            return real_recv(self)
        note_use(self)
        began, idle = time.monotonic(), 0
        while not self.poll(0.05):
            if id(self) in handed and time.monotonic() - began > GRACE_S:
                stop(deadlock="shared_end")
            idle = 0 if multiprocessing.active_children() else idle + 1
            if idle >= 6:
                kept = any(id(c) in handed and not c.closed for c in made)
                stop(deadlock="server_gone", holds_server_end=kept)
        return real_recv(self)

    def start(self):
        for value in [*getattr(self, "_args", ()), *getattr(self, "_kwargs", {}).values()]:
            if isinstance(value, connection) and os.getpid() == me:
                handed.add(id(value))
        real_start(self)
        if os.getpid() == me:
            started.add(id(self))
            seen.set(started=len(started))

    def join(self, timeout=None):
        # only a server that was neither sent None nor had its client end closed can be
        # waiting for ever; one that was told to stop gets all the time it needs. Closing
        # the client end tells a forked server nothing: fork gave it a copy of every end
        # main() had made, that one too, and an end is closed only once all its copies
        # are, so its recv() never raises EOFError
        closed = all(c.closed for c in made if id(c) not in handed)
        forked = getattr(getattr(self, "_popen", None), "method", None) == "fork"
        told = sent_none[0] or (closed and not forked)
        if os.getpid() == me and timeout is None and self.is_alive() and not told:
            real_join(self, GRACE_S)
            if self.exitcode is None:
                stop(deadlock="join", inherited_end=closed and forked)
        real_join(self, timeout)
        if os.getpid() == me and self.exitcode is not None:
            joined.add(id(self))

    multiprocessing.connection.Pipe = pipe
    connection.send, connection.recv = send, recv
    multiprocessing.process.BaseProcess.start = start
    multiprocessing.process.BaseProcess.join = join
    main()
    seen.set(
        pipes=len(made) // 2,
        open_ends=[
            # codes, not words: the exercise says them in the student's language
            "server" if id(c) in handed else "own"
            for c in made
            if not c.closed
        ],
        all_joined=bool(started) and not started - joined,
    )
