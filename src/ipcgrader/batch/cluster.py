"""Gradings made on a Dask cluster (``ipcgrade batch --scheduler tcp://HOST:PORT``).

:class:`DaskExecutor` is the :class:`~ipcgrader.batch.executors.GradingExecutor` of a
cluster: one Dask task per grading (:func:`~ipcgrader.batch.shipping.grade_shipped`), the
exercise and the submission shipped with it as bytes. Each Dask future is bridged to a
:class:`concurrent.futures.Future` of a :class:`~ipcgrader.batch.executors.Graded`, so the
runner waits on and records cluster gradings exactly like local ones: in this process,
once each, as they finish.

What Dask gives for free: a task whose worker is lost (crash, kill, preemption) is run
again on another worker; a retried task grades the same bytes in fresh folders, and its
future completes once, so each grading is recorded once. What is checked here: on connect,
every worker's ipcgrader version (refused with a clear message if it is not the client's)
and its isolation level (reported, as ``ipcgrade doctor`` would say it there); each task
checks the grader and plugins again on its worker, which also covers workers that join
later. On Ctrl-C the tasks not finished are cancelled and each worker stops this batch's
runs (:func:`~ipcgrader.batch.shipping.stop_batch`), as a local batch kills its own.

``distributed`` is imported only here and only when a scheduler is given, so a local batch
needs no Dask (``pip install 'ipcgrader[dask]'`` brings it).
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from concurrent.futures import CancelledError, Future
from typing import Any

from ipcgrader import __version__
from ipcgrader.batch.executors import Graded
from ipcgrader.batch.planning import ExerciseSetup, Job
from ipcgrader.batch.shipping import (
    ShippedExercise,
    WorkerMismatch,
    grade_shipped,
    ship_exercise,
    ship_job,
    stop_batch,
    worker_info,
)
from ipcgrader.i18n import _
from ipcgrader.session import internal_error

#: Gradings submitted at once: enough to keep a large cluster busy (Dask queues them on
#: the scheduler), few enough to bound the bytes in flight.
IN_FLIGHT = 512
#: Seconds to wait for the scheduler to answer, and then for a first worker.
CONNECT_TIMEOUT_S = 30


class ClusterError(Exception):
    """The cluster cannot be used (no Dask installed, unreachable, mismatched workers)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError(
            _(
                "--scheduler needs Dask's distributed package ({error}); install it with: "
                "pip install 'ipcgrader[dask]'"
            ).format(error=exc)
        ) from exc
    return distributed


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``, once a worker has joined
    it (each wait at most ``timeout`` seconds). Raises :class:`ClusterError`."""
    distributed = _distributed()
    try:
        # a malformed address is said at once (the Client would complain again when
        # collected, with a traceback)
        distributed.comm.get_address_host_port(address)
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            _("cannot reach the Dask scheduler at {address}: {error}").format(
                address=address, error=exc
            )
        ) from exc
    try:
        client.wait_for_workers(1, timeout=timeout)
    except TimeoutError as exc:
        client.close()
        raise ClusterError(
            _("no Dask worker joined the scheduler at {address} in {seconds} s").format(
                address=address, seconds=timeout
            )
        ) from exc
    return client


def workers_report(
    address: str, timeout: float = CONNECT_TIMEOUT_S, measure_repeats: int = 0
) -> dict[str, dict[str, Any]]:
    """``ipcgrade doctor --scheduler``: what every worker of the cluster at ``address``
    says about itself (:func:`~ipcgrader.batch.shipping.worker_info`, its isolation
    report timed with ``measure_repeats`` runs per level), by worker address. Raises
    :class:`ClusterError`."""
    client = connect(address, timeout)
    try:
        info: dict[str, dict[str, Any]] = client.run(worker_info, None, measure_repeats)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            _("cannot reach the Dask scheduler at {address}: {error}").format(
                address=address, error=exc
            )
        ) from exc
    finally:
        client.close()
    return info


def describe_worker(address: str, info: dict[str, Any]) -> str:
    """One line about a worker: versions, cores and the isolation level its runs get."""
    isolation = info["isolation"]
    if isolation.get("error"):
        level = _("unusable: {error}").format(error=isolation["error"])
    else:
        level = isolation["chosen"]
    return _(
        "worker {address} ({host}): ipcgrader {version}, Python {python}, {cores} cores, "
        "isolation {level}"
    ).format(
        address=address,
        host=info["host"],
        version=info["ipcgrader"],
        python=info["python"],
        cores=info["cores"],
        level=level,
    )


def check_workers(workers: dict[str, dict[str, Any]], students: int = 1) -> list[str]:
    """Why these workers cannot grade a batch of ``students`` for this client (empty if
    they can): another ipcgrader, a level asked for that cannot be had, or only the basic
    level for more than one student when basic was not asked for by name (as locally)."""
    problems = []
    for address, info in sorted(workers.items()):
        level = info["isolation"]
        if info.get("ipcgrader") != __version__:
            problems.append(
                _(
                    "worker {address} runs ipcgrader {theirs}, this client {ours}: install "
                    "ipcgrader {ours} on every worker (pip install 'ipcgrader[dask]=={ours}')"
                ).format(address=address, theirs=info.get("ipcgrader"), ours=__version__)
            )
        elif level.get("error"):
            problems.append(
                _("worker {address} cannot isolate student runs: {error}").format(
                    address=address, error=level["error"]
                )
            )
        elif level.get("chosen") == "basic" and level.get("forced") != "basic" and students > 1:
            problems.append(
                _(
                    "worker {address} has only the basic isolation level, at which each "
                    "submission graded there can read the others; to grade {count} students "
                    "anyway, pass --isolation basic (or set IPCGRADER_ISOLATION=basic on the "
                    "worker), or install bubblewrap there"
                ).format(address=address, count=students)
            )
    return problems


class DaskExecutor:
    """Gradings made by the workers of a Dask cluster; see the module docstring."""

    def __init__(
        self,
        client: Any,  # distributed.Client: Dask is optional, and only partly typed
        shipped: dict[str, ShippedExercise],
        in_flight: int = IN_FLIGHT,
    ) -> None:
        self.client = client
        self.in_flight = in_flight
        #: exercise id -> the exercise as every task of it carries it
        self._shipped = shipped
        #: tasks not finished yet; the callbacks of finished ones run in other threads
        self._futures: set[Any] = set()
        self._lock = threading.Lock()
        self._stopped = False
        #: names this batch's gate on the workers, so a stop reaches its gradings only
        self._batch = uuid.uuid4().hex

    @classmethod
    def connect(
        cls,
        address: str,
        setups: list[ExerciseSetup],
        autoload: bool | None,
        isolation_level: str | None = None,
        students: int = 1,
    ) -> tuple[DaskExecutor, list[str]]:
        """Connect to the scheduler at ``address``, wait for a worker, check every worker
        (for a batch of ``students``, runs at ``isolation_level`` if given); return the
        executor and a line per worker. Raises :class:`ClusterError`."""
        client = connect(address)
        try:
            workers: dict[str, dict[str, Any]] = client.run(worker_info, isolation_level)
            problems = check_workers(workers, students)
            if problems:
                raise ClusterError("\n".join(problems))
        except BaseException:
            client.close()
            raise
        lines = [describe_worker(a, info) for a, info in sorted(workers.items())]
        shipped = {s.id: ship_exercise(s, autoload, isolation_level, students) for s in setups}
        return cls(client, shipped), lines

    def submit(self, job: Job) -> Future[Graded]:
        """One task on the cluster; its outcome bridged to a local future."""
        key = f"ipcgrade-{job.exercise.id}-{job.student}-{uuid.uuid4().hex[:8]}"
        remote = self.client.submit(
            grade_shipped,
            self._shipped[job.exercise.id],
            ship_job(job),
            self._batch,
            key=key,
            pure=False,
        )
        with self._lock:
            self._futures.add(remote)
        local: Future[Graded] = Future()

        def landed(done: Any) -> None:
            # called in a thread of the client once the task finished, failed or was
            # cancelled: exactly once per task, however many workers it took
            with self._lock:
                self._futures.discard(done)
            try:
                local.set_result(self._graded(job, done))
            except WorkerMismatch as exc:  # stops the batch: see the runner
                local.set_exception(exc)

        remote.add_done_callback(landed)
        return local

    def _graded(self, job: Job, done: Any) -> Graded:
        unfinished = internal_error(job.exercise.id, job.folder, RuntimeError("not finished"))
        if self._stopped or done.cancelled():
            return Graded(unfinished, valid=False)
        try:
            graded: Graded = done.result()
        except WorkerMismatch:
            raise
        except CancelledError:  # cancelled between the check above and now
            return Graded(unfinished, valid=False)
        except Exception as exc:  # e.g. a task that killed every worker it ran on
            error = internal_error(job.exercise.id, job.folder, exc)
            return Graded(error.model_copy(update={"submission": job.display}), valid=True)
        return graded

    def stop(self) -> None:
        """Cancel every task not finished yet (their gradings are discarded) and stop the
        gradings of this batch in progress on the workers (their runs are killed)."""
        if not self._stopped:
            self._stopped = True
            self._cancel()
            with contextlib.suppress(Exception):  # a worker gone meanwhile: nothing to stop
                self.client.run(stop_batch, self._batch)

    def close(self) -> None:
        """Cancel what is left (after an error: nothing runs on for nobody)."""
        self._cancel()

    def _cancel(self) -> None:
        with self._lock:
            left = list(self._futures)
        if left:
            self.client.cancel(left)

    def disconnect(self) -> None:
        """Close the connection to the cluster (the cluster itself stays up)."""
        self.client.close()
