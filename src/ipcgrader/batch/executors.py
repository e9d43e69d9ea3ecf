"""Where the gradings of a batch are made, behind one small interface.

:class:`GradingExecutor` is shaped like :class:`concurrent.futures.Executor`: ``submit`` a
:class:`~ipcgrader.batch.planning.Job`, get a :class:`~concurrent.futures.Future` of its
:class:`Graded`, and wait on the futures as they complete. The runner
(:mod:`~ipcgrader.batch.runner`) alone turns finished futures into gradebook rows, whatever
made them: a pool of threads on this machine (:class:`LocalExecutor`, the default) or a Dask
cluster (:mod:`~ipcgrader.batch.cluster`, which Dask's ``distributed.Client`` makes possible
because it speaks the same shape). So resume, Ctrl-C, ``--force``, the exports and the
progress bar are the same code for both.

How a local machine is shared. One grading of lock_ticket is 9 sandboxed runs of ~7 Python
processes each, and a run is mostly CPU (interpreter start-up, spawn imports), with some
waiting (dilated sleeps, a deadlocked or hanging program). So the unit that is scheduled is
the *run*, not the submission: a FIFO :class:`RunGate` lets at most ``RUNS_PER_CORE × N``
runs execute at once (``-j N`` cores, default all). Two per core keeps every core busy
while some runs wait, and bounds oversubscription. Enough gradings are in flight to fill
the gate; each still makes its runs in parallel, so a hanging submission costs about one
timeout of wall time, not nine. The gate is first-come first-served, so gradings finish
roughly in order and each is recorded as soon as it finishes. Busy neighbours cannot
change a verdict: hangs are judged as they happen (a deadlock at once, a spinning program
by the CPU it used; :mod:`ipcgrader.harness.supervise`), and the wall timeout, generous,
is only the last resort.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from ipcgrader import sandbox
from ipcgrader.batch.planning import Job
from ipcgrader.results import Diagnostic, ExerciseResult, RunRecord
from ipcgrader.session import Options, grade, internal_error
from ipcgrader.warm import WarmRunner

#: Runs of the batch made at once per core given with ``-j`` (see the module docstring).
RUNS_PER_CORE = 2
#: Most gradings in flight: each brings up to 9 runs (threads), so this fills any gate.
MAX_IN_FLIGHT = 32


class BatchStopped(Exception):
    """Raised inside a grading when the batch is stopping; the grading is discarded."""


class BatchAborted(Exception):
    """Raised by a future of an executor when the batch cannot go on (e.g. a cluster worker
    with another grader): the runner keeps what was graded and stops with the message."""


class RunGate:
    """A first-come first-served limit on runs made at once, shared by all gradings.

    Used as a context manager around each run (``Options.run_gate``). After :meth:`stop`,
    entering raises :class:`BatchStopped`, so gradings in progress end quickly.
    """

    def __init__(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._free = self.slots
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()
        self.stopped = False

    def __enter__(self) -> RunGate:
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            try:
                while not self.stopped and (self._queue[0] is not ticket or self._free == 0):
                    self._cond.wait()
                if self.stopped:
                    raise BatchStopped("the batch is stopping")
                self._free -= 1
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may go now
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Refuse every run not started yet (waiting ones raise :class:`BatchStopped`)."""
        with self._cond:
            self.stopped = True
            self._cond.notify_all()


@dataclass(frozen=True)
class Graded:
    """A finished grading of the batch."""

    result: ExerciseResult
    #: False when a stop cut the grading short: it must not be recorded
    valid: bool
    #: seconds the submission's own runs took, summed (its cost, without queueing)
    run_time_s: float = 0.0


def grade_job(
    job: Job, gate: RunGate, isolation: str | None = None, warm: WarmRunner | None = None
) -> Graded:
    """Grade one job, its runs let through ``gate`` (at the ``isolation`` level if given,
    forked from ``warm`` if given: the batch's shared runner); never raises.

    Its verdict counts as it is, however busy the machine: a deadlocked run is stopped as
    soon as it is (not by the clock), a spinning one by the CPU it used (not the wall time
    it took), so nothing needs grading again alone."""
    setup = job.exercise
    options = Options(
        jobs=setup.options.jobs,
        timeout=setup.options.timeout,
        limits=setup.options.limits,
        run_gate=gate,
        isolation=isolation,
        warm=warm,
    )
    runs: list[RunRecord] = []
    try:
        result = grade(setup.loaded, job.folder, setup.pm, options, on_run=runs.append)
    except BatchStopped:
        unfinished = internal_error(setup.id, job.folder, RuntimeError("not finished"))
        return Graded(unfinished, valid=False)
    except Exception as exc:  # a grader bug sinks this grading only, never the batch
        result = internal_error(setup.id, job.folder, exc)
    # checked after grade() returned: a run killed by a stop happens only after stop()
    valid = not gate.stopped
    diagnostics = list(result.diagnostics)
    if job.problem:
        diagnostics.insert(0, Diagnostic(kind="bad_archive", message=job.problem))
    result = result.model_copy(update={"submission": job.display, "diagnostics": diagnostics})
    run_time = round(sum(r.outcome.duration_s for r in runs), 4)
    return Graded(result, valid, run_time)


class GradingExecutor(Protocol):
    """Makes gradings; the runner records them. ``concurrent.futures``-shaped."""

    #: how many gradings to keep submitted at once (enough to keep every core busy)
    in_flight: int

    def submit(self, job: Job) -> Future[Graded]:
        """Start grading ``job``; the future fails only with :class:`BatchAborted`, for a
        reason that must stop the whole batch."""
        ...

    def stop(self) -> None:
        """Ctrl-C: end the gradings in progress soon (their futures say ``valid=False``).
        Called again and again until every submitted future is done; cheap if repeated."""
        ...

    def close(self) -> None:
        """Wait for what was submitted and let go of the executor's resources."""
        ...


class LocalExecutor:
    """Gradings made by threads of this process, their runs through one :class:`RunGate`
    and forked from one warm runner: its warm interpreter starts once per batch, not once
    per grading (about 60 ms of CPU each)."""

    def __init__(self, run_slots: int, in_flight: int) -> None:
        self.gate = RunGate(run_slots)
        self.warm = sandbox.warm_runner()
        self.in_flight = max(1, in_flight)
        self._pool = ThreadPoolExecutor(self.in_flight, thread_name_prefix="ipcgrade-batch")

    @classmethod
    def for_cores(cls, cores: int) -> LocalExecutor:
        """``RUNS_PER_CORE`` runs per core, enough gradings in flight to fill them."""
        slots = RUNS_PER_CORE * max(1, cores)
        return cls(slots, min(slots, MAX_IN_FLIGHT))

    def submit(self, job: Job) -> Future[Graded]:
        """Grade ``job`` in a thread of the pool."""
        return self._pool.submit(grade_job, job, self.gate, None, self.warm)

    def stop(self) -> None:
        """Refuse new runs and kill those in progress (a run may start between two kills,
        hence the repeated calls)."""
        self.gate.stop()
        sandbox.kill_active_runs()

    def close(self) -> None:
        """Wait for the pool's threads, then stop the warm interpreter."""
        try:
            self._pool.shutdown(wait=True)
        finally:
            self.warm.close()
