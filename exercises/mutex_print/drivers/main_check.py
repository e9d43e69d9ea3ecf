"""mutex_print: the student's main(), with the order of its Process.start() and completed
Process.join() calls recorded in the main process: were the three started together (so
they competed for the lock) or serialised by join?"""

import multiprocessing.process
import os
import sys

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
from mp_probe import Observations  # noqa: E402


def pattern_of(events, started):
    joined = {i for kind, i in events if kind == "join"}
    if not started:
        return "none"
    if set(started) - joined:
        return "unjoined"
    first_join = next(i for i, (kind, _) in enumerate(events) if kind == "join")
    if all(i < first_join for i, (kind, _) in enumerate(events) if kind == "start"):
        return "concurrent"
    return "serial"


def drive(student):
    main = student.main
    seen = Observations()
    me = os.getpid()
    events, started, watching = [], [], [True]
    seen.set(pattern="none", started=0)
    real_start = multiprocessing.process.BaseProcess.start
    real_join = multiprocessing.process.BaseProcess.join

    def start(self):
        real_start(self)
        if os.getpid() == me and watching[0]:
            started.append(id(self))
            events.append(("start", id(self)))
            seen.set(pattern=pattern_of(events, started), started=len(started))

    def join(self, timeout=None):
        real_join(self, timeout)
        if os.getpid() == me and watching[0] and self.exitcode is not None:
            if ("join", id(self)) not in events:
                events.append(("join", id(self)))
                seen.set(pattern=pattern_of(events, started))

    multiprocessing.process.BaseProcess.start = start
    multiprocessing.process.BaseProcess.join = join
    main()
    watching[0] = False
    seen.set(pattern=pattern_of(events, started), started=len(started))
