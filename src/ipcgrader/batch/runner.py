"""Grade many submissions: every student × every exercise, in parallel, resumable.

Where the gradings are made is an executor's business (:mod:`~ipcgrader.batch.executors`:
threads of this process by default, or a Dask cluster); this module decides what to grade,
keeps enough gradings in flight, and is the one writer of the gradebook: each grading is
recorded here, once, as soon as its future completes.

Each grading is recorded as it comes back, once: hangs are judged as they happen (see
:mod:`ipcgrader.harness.supervise`), so a verdict made next to busy neighbours is trusted as
it is, and nothing is graded again alone.

Stopping. On Ctrl-C (or SIGTERM, which the CLI turns into the same) the executor is stopped
(runs not yet started raise :class:`~ipcgrader.batch.executors.BatchStopped`, every run in
progress is killed), and the gradings that were cut short are discarded: only gradings
finished before the stop are in the gradebook, and the next run grades the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field

from ipcgrader.batch.executors import BatchAborted, Graded, GradingExecutor, LocalExecutor
from ipcgrader.batch.gradebook import Gradebook
from ipcgrader.batch.planning import Job
from ipcgrader.batch.progress import BatchProgress
from ipcgrader.results import ExerciseResult, Status


@dataclass
class BatchReport:
    """What a batch did. ``results`` holds every grading of the batch, fresh or stored."""

    total: int = 0
    skipped: int = 0
    graded: int = 0
    discarded: int = 0
    interrupted: bool = False
    #: why the executor could not go on (e.g. a cluster worker with another grader)
    error: str | None = None
    duration_s: float = 0.0
    results: list[ExerciseResult] = field(default_factory=list)


def _pump(
    executor: GradingExecutor,
    jobs: Iterable[Job],
    done: Callable[[Job, Graded], None],
) -> None:
    """Grade ``jobs`` with ``executor.in_flight`` gradings at once, calling ``done`` in this
    thread as each finishes. On Ctrl-C: stop the executor, hand over the gradings that had
    finished, then re-raise. The executor is closed either way."""
    queue = iter(jobs)
    pending: dict[Future[Graded], Job] = {}
    try:
        while True:
            while len(pending) < executor.in_flight and (job := next(queue, None)) is not None:
                pending[executor.submit(job)] = job
            if not pending:
                return
            # a short wait keeps the main thread responsive to Ctrl-C
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                done(pending.pop(future), future.result())
    except KeyboardInterrupt:
        # stopped at once, even with nothing pending: a Ctrl-C that lands inside submit()
        # leaves a grading started that ``pending`` does not hold, and close() would wait
        # for the whole of it
        executor.stop()
        while pending:
            try:
                executor.stop()
                finished, _ = wait(pending, timeout=0.05)
                for future in finished:
                    done(pending.pop(future), future.result())
            except KeyboardInterrupt:  # a second Ctrl-C must not leave processes behind
                continue
        raise
    finally:
        executor.close()


def run_batch(
    jobs: Sequence[Job],
    gradebook: Gradebook,
    progress: BatchProgress,
    *,
    cores: int,
    force: bool = False,
    executor: GradingExecutor | None = None,
) -> BatchReport:
    """Grade ``jobs`` not already current in ``gradebook`` (all with ``force``), recording
    each result as it finishes; by ``executor``, or by threads of this process using
    ``cores`` cores. Ctrl-C stops cleanly and returns a report with
    ``interrupted`` set; nothing of the batch is left running either way."""
    started = time.monotonic()
    report = BatchReport(total=len(jobs))
    stored = {(g.student, g.exercise): g for g in gradebook.gradings()}
    todo: list[Job] = []
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
        else:
            gradebook.record(job.student, job.fingerprint, graded.result, graded.run_time_s)
            report.graded += 1
            report.results.append(graded.result)
            progress.advance(f"{job.student}/{job.exercise.id}", graded.result)

    executor = executor or LocalExecutor.for_cores(cores)
    try:
        _pump(executor, todo, keep)
    except KeyboardInterrupt:
        report.interrupted = True
        progress.note("ipcgrade batch: stopped; finished gradings are kept")
    except BatchAborted as exc:
        report.interrupted = True
        report.error = str(exc)
    progress.close()
    report.duration_s = time.monotonic() - started
    return report
