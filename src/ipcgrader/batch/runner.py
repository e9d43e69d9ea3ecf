"""Grade many submissions: every student × every exercise, in parallel, resumable.

How the machine is shared. One grading of lock_ticket is 9 sandboxed runs of ~7 Python
processes each, and a run is mostly CPU (interpreter start-up, spawn imports), with some
waiting (dilated sleeps, a deadlocked or hanging program). So the unit that is scheduled is
the *run*, not the submission: a FIFO :class:`RunGate` lets at most ``RUNS_PER_CORE × N``
runs of the whole batch execute at once (``-j N`` cores, default all). Two per core keeps
every core busy while some runs wait, and bounds oversubscription. Enough gradings are in
flight to fill the gate; each still makes its runs in parallel, so a hanging submission
costs about one timeout of wall time, not nine. The gate is first-come first-served, so
gradings finish roughly in order and each is recorded as soon as it finishes.

Timeouts are confirmed alone. Next to submissions that spin on the CPU (an infinite loop is
six busy processes per run), a correct submission's run can be slowed past its wall
timeout. So in the parallel pass a grading is abandoned as soon as one of its runs has run
for its whole timeout (its other runs are not started), and at the end every such grading
is made again one at a time, under the same conditions as a single ``ipcgrade``: only that
verdict is recorded. A hostile program never changes another submission's verdict, and a
submission that really hangs costs about two timeouts of wall time instead of nine.

Stopping. On Ctrl-C (or SIGTERM, which the CLI turns into the same) the gate is closed
(runs not yet started raise :class:`BatchStopped`), every run in progress is killed, and the
gradings that were cut short are discarded: only gradings finished before the stop are in
the gradebook, and the next run grades the rest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ipcgrader import sandbox
from ipcgrader.batch.gradebook import Gradebook
from ipcgrader.batch.planning import Job
from ipcgrader.batch.progress import BatchProgress
from ipcgrader.results import Diagnostic, ExerciseResult, RunRecord, Status
from ipcgrader.session import MAX_PARALLEL_RUNS, Options, grade, internal_error

#: Runs of the batch made at once per core given with ``-j`` (see the module docstring).
RUNS_PER_CORE = 2
#: Most gradings in flight: each brings up to 9 runs (threads), so this fills any gate.
MAX_IN_FLIGHT = 32


class BatchStopped(Exception):
    """Raised inside a grading when the batch is stopping; the grading is discarded."""


class Abandoned(BatchStopped):
    """Raised inside a grading of the parallel pass after one of its runs timed out."""


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


class _GradingGate:
    """The gate as one grading sees it: in the parallel pass, once a run of this grading
    has been inside for ``timeout_s`` (it can only have been stopped by its timeout), the
    grading's runs not started yet raise :class:`Abandoned`."""

    def __init__(self, gate: RunGate, timeout_s: float | None) -> None:
        self.gate = gate
        self.timeout_s = timeout_s
        self.timed_out = False
        self._started = threading.local()  # the runs of one grading overlap

    def __enter__(self) -> _GradingGate:
        if self.timed_out:
            raise Abandoned("a run of this grading timed out")
        self.gate.__enter__()
        self._started.at = time.monotonic()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.gate.__exit__(*exc_info)
        elapsed = time.monotonic() - self._started.at
        if self.timeout_s is not None and elapsed >= self.timeout_s:
            self.timed_out = True


@dataclass(frozen=True)
class Graded:
    """A finished grading of the batch."""

    result: ExerciseResult
    #: False when a stop cut the grading short: it must not be recorded
    valid: bool
    #: seconds the submission's own runs took, summed (its cost, without queueing)
    run_time_s: float = 0.0
    #: a run hit its wall timeout in the parallel pass: grade it again alone
    timed_out: bool = False


@dataclass
class BatchReport:
    """What a batch did. ``results`` holds every grading of the batch, fresh or stored."""

    total: int = 0
    skipped: int = 0
    graded: int = 0
    #: gradings with a timeout in the parallel pass that were made again alone
    confirmed: int = 0
    discarded: int = 0
    interrupted: bool = False
    duration_s: float = 0.0
    results: list[ExerciseResult] = field(default_factory=list)


def _grade_job(job: Job, gate: RunGate, alone: bool) -> Graded:
    """Grade one job; never raises. Unless ``alone``, give up on the first timeout."""
    setup = job.exercise
    spec = setup.loaded.spec
    shortest = min(
        (setup.options.timeout or s.timeout or spec.timeout for s in spec.scenarios),
        default=None,
    )
    mine = _GradingGate(gate, None if alone else shortest)
    options = Options(
        jobs=setup.options.jobs,
        timeout=setup.options.timeout,
        limits=setup.options.limits,
        run_gate=mine,
    )
    runs: list[RunRecord] = []
    unfinished = internal_error(setup.id, job.folder, RuntimeError("not finished"))
    try:
        result = grade(setup.loaded, job.folder, setup.pm, options, on_run=runs.append)
    except Abandoned:
        return Graded(unfinished, valid=not gate.stopped, timed_out=True)
    except BatchStopped:
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
    timed_out = not alone and (mine.timed_out or any(r.outcome.timed_out for r in runs))
    return Graded(result, valid, run_time, timed_out)


def _pump(
    jobs: Iterable[Job],
    gate: RunGate,
    in_flight: int,
    done: Callable[[Job, Graded], None],
    alone: bool = False,
) -> None:
    """Grade ``jobs`` with ``in_flight`` gradings at once, calling ``done`` in this thread
    as each finishes. On Ctrl-C: stop the gate, kill every run, hand over the gradings that
    had finished, then re-raise."""
    queue = iter(jobs)
    pending: dict[Future[Graded], Job] = {}
    with ThreadPoolExecutor(in_flight, thread_name_prefix="ipcgrade-batch") as pool:
        try:
            while True:
                while len(pending) < in_flight and (job := next(queue, None)) is not None:
                    pending[pool.submit(_grade_job, job, gate, alone)] = job
                if not pending:
                    return
                # a short wait keeps the main thread responsive to Ctrl-C
                finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    done(pending.pop(future), future.result())
        except KeyboardInterrupt:
            gate.stop()
            while pending:
                try:
                    # a run may start between two kills: kill until every grading returned
                    sandbox.kill_active_runs()
                    finished, _ = wait(pending, timeout=0.05)
                    for future in finished:
                        done(pending.pop(future), future.result())
                except KeyboardInterrupt:  # a second Ctrl-C must not leave processes behind
                    continue
            raise


def run_batch(
    jobs: Sequence[Job],
    gradebook: Gradebook,
    progress: BatchProgress,
    *,
    cores: int,
    force: bool = False,
) -> BatchReport:
    """Grade ``jobs`` not already current in ``gradebook`` (all with ``force``), recording
    each result as it finishes. Ctrl-C stops cleanly and returns a report with
    ``interrupted`` set; nothing of the batch is left running either way."""
    started = time.monotonic()
    report = BatchReport(total=len(jobs))
    stored = {(g.student, g.exercise): g for g in gradebook.gradings()}
    todo: list[Job] = []
    confirm: list[Job] = []
    for job in jobs:
        known = stored.get((job.student, job.exercise.id))
        stale = force or known is None or known.fingerprint != job.fingerprint
        # a grader error is always tried again
        if stale or known is None or known.result.status is Status.error:
            todo.append(job)
        else:
            report.skipped += 1
            report.results.append(known.result)
    progress.start(report.total, report.skipped)

    def keep(job: Job, graded: Graded) -> None:
        if not graded.valid:
            report.discarded += 1
        elif graded.timed_out:
            confirm.append(job)  # nothing recorded: only the verdict made alone counts
        else:
            gradebook.record(job.student, job.fingerprint, graded.result, graded.run_time_s)
            report.graded += 1
            report.results.append(graded.result)
            progress.advance(f"{job.student}/{job.exercise.id}", graded.result)

    def confirmed(job: Job, graded: Graded) -> None:
        report.confirmed += graded.valid
        keep(job, graded)

    slots = RUNS_PER_CORE * max(1, cores)
    try:
        _pump(todo, RunGate(slots), min(slots, MAX_IN_FLIGHT), keep)
        if confirm:
            progress.note(f"ipcgrade batch: {len(confirm)} gradings hit a timeout; grading them "
                          "again one at a time to confirm")  # fmt: skip
            # alone, with every run at once: the conditions of a single `ipcgrade`
            _pump(list(confirm), RunGate(MAX_PARALLEL_RUNS), 1, confirmed, alone=True)
    except KeyboardInterrupt:
        report.interrupted = True
        progress.note("ipcgrade batch: stopped; finished gradings are kept")
    progress.close()
    report.duration_s = time.monotonic() - started
    return report
