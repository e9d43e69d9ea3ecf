"""Expectations judged on the trace: ``no_race``, ``atomic_update``, ``concurrent``,
``children_ok``. Each failure explains itself with the student's lines (see
:mod:`ipcgrader.checks.explain`).

A run without a trace, or with an incomplete one (a process that left no exit event, a line
cut off), is "could not check", never a pass. Plugins that judge traces subclass
:class:`TraceExpectation` and implement ``judge_trace``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from ipcgrader import hookimpl
from ipcgrader.checks import explain
from ipcgrader.i18n import N_, _, ngettext
from ipcgrader.models import Exercise, Expectation, Fact, LocalText, Scenario
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import STUDENT_VISIBLE, Diagnostic, RunRecord, Verdict
from ipcgrader.scoring import check_ids
from ipcgrader.trace import (
    ProcessInfo,
    Trace,
    accesses,
    atomicity_violations,
    crashed_children,
    find_races,
    overlapping_workers,
    read_modify_writes,
    trace_of,
)
from ipcgrader.trace.analyses import STATE_KINDS

_CONSEQUENCE = Field(
    None,
    description="what goes wrong, in the exercise's words, e.g. 'two buyers can both read "
    "count=1 and both buy the last ticket'",
)


class TraceExpectation(Expectation):
    """Base of expectations judged on a run's trace: fetches the trace and calls
    :meth:`judge_trace`.

    A run that was stopped (a deadlock, its CPU budget, a timeout) or lost part of its
    trace is still judged on what was recorded: a finding there is real and fails the check,
    but the absence of one proves nothing, so it is "could not check" saying what it could
    not see (:meth:`undecided`), never a pass. A kind whose pass holds on any part of a run
    (two workers seen running at once) sets :attr:`pass_holds_when_cut`; one whose failure
    may only mean the run had not got that far yet (fewer workers than expected) clears
    :attr:`fail_holds_when_cut`.
    """

    needs_complete_run: ClassVar[bool] = False
    when_stopped: ClassVar[str | None] = (
        "judged on what happened before a run that did not end normally was stopped: a "
        "finding made before the stop counts; when none was made, the check reads "
        '"could not check" and says what the stop kept it from seeing'
    )
    #: a failing verdict on the part of a run before it was stopped holds for the whole run
    fail_holds_when_cut: ClassVar[bool] = True

    def evaluate(self, run: RunRecord) -> Verdict:
        """Judge the run's trace; "could not check" without a complete trace."""
        if run.student_error is not None:
            return Verdict(False, _("the program {problem}").format(problem=run.problem()))
        trace = trace_of(run)
        if trace is None:
            return Verdict(None, "this run was not traced (trace.enabled = false)")
        verdict = self.judge_trace(trace, run)
        holds = (verdict.passed is False and self.fail_holds_when_cut) or (
            verdict.passed is True and self.pass_holds_when_cut
        )
        if trace.complete or holds:
            return verdict
        problem = run.problem()
        if problem is None:  # not stopped: a process's trace was cut (it was killed?)
            return Verdict(
                None,
                _("the trace of this run is incomplete: {problem}").format(
                    problem=trace.problems[0]
                ),
                verdict.diagnostics,
            )
        return Verdict(
            None,
            _(
                "the program {problem}; up to then, {undecided}, and what it would have "
                "done after that is unknown"
            ).format(problem=problem, undecided=self.undecided()),
            verdict.diagnostics,
        )

    def undecided(self) -> str:
        """What a run stopped before it ended did not show, for "could not check"."""
        return _("nothing this check looks for had happened")

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Judge a complete trace. Subclasses must implement this."""
        raise NotImplementedError(f"expectation kind {self.kind!r} does not judge traces")


def _nothing_done(file: str) -> str:
    return _(
        "no process read {file} and wrote it back in this run, so there was no update to judge"
    ).format(file=explain.state_name(file))


class NoRace(TraceExpectation):
    """No two processes access a shared file unordered and without a common lock, one of
    them writing (lockset analysis with start/join ordering)."""

    kind: Literal["no_race"]
    file: str = Field(
        description="a file listed in the exercise's shared_files, or a kind of shared "
        "state: Value, Array, Manager.dict, Manager.Value"
    )
    ignore_read_only: bool = Field(
        False,
        description="judge only read-modify-writes and writes: a read whose value feeds no "
        "write of the same process (looking at the count) is not a race",
    )
    consequence: LocalText | None = _CONSEQUENCE
    default_name: ClassVar[str] = N_("no race on the shared file")

    def undecided(self) -> str:
        """No race was seen (yet)."""
        return _("no two processes had raced on {file}").format(file=self.file)

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail with an explanation of the first race found."""
        workers = {process.pid for process in trace.workers()}
        if not any(access.pid in workers for access in accesses(trace, self.file)):
            # no child used it (a driver reading a counter at the end is no use by the
            # program); in a run that was cut short, not yet: could not check (see evaluate)
            return Verdict(not trace.complete, _nothing_done(self.file))
        races = find_races(trace, self.file, self.ignore_read_only)
        if not races:
            return Verdict(True)
        found = explain.race(trace, self.file, races, self.consequence)
        first = races[0]
        needed = first.first if not first.first.held else first.second
        found.extend(explain.unused_locks_found(trace, needed, self.file))
        return Verdict(False, found[0].message, found)


class AtomicUpdate(TraceExpectation):
    """Each read of the shared file and the write after it are in one critical section
    of one process lock (no release in between)."""

    kind: Literal["atomic_update"]
    file: str = Field(
        description="a file listed in the exercise's shared_files, or a kind of shared "
        "state: Value, Array, Manager.dict, Manager.Value"
    )
    consequence: LocalText | None = _CONSEQUENCE
    default_name: ClassVar[str] = N_("read and write back under one lock")

    def undecided(self) -> str:
        """Every update seen (if any) was atomic."""
        return _("every update of {file} it made was under one lock").format(file=self.file)

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail with an explanation of the first read-modify-write that is not atomic."""
        if not any(read for read, _write in read_modify_writes(accesses(trace, self.file))):
            return Verdict(not trace.complete, _nothing_done(self.file))
        violations = atomicity_violations(trace, self.file)
        if not violations:
            return Verdict(True)
        found = explain.atomicity(trace, self.file, violations[0], self.consequence)
        return Verdict(False, found[0].message, found)


class Concurrent(TraceExpectation):
    """The workers could run at the same time: start/join do not serialise them."""

    kind: Literal["concurrent"]
    min_workers: int = Field(2, ge=2, description="how many worker processes must run")
    default_name: ClassVar[str] = N_("workers run at the same time")
    pass_holds_when_cut: ClassVar[bool] = True  # workers seen running at once did so
    fail_holds_when_cut: ClassVar[bool] = False  # the others might have started later

    def undecided(self) -> str:
        """No two workers had been seen running at once."""
        return _("no two worker processes had run at the same time")

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail when fewer workers ran than expected or every pair was ordered by join."""
        workers = trace.workers()
        if len(workers) < self.min_workers:
            return Verdict(
                False,
                ngettext(
                    "only {n} worker process ran; expected at least {least}",
                    "only {n} worker processes ran; expected at least {least}",
                    len(workers),
                ).format(n=len(workers), least=self.min_workers),
            )
        if overlapping_workers(trace):
            return Verdict(True)
        found = explain.serialised(trace, workers)
        return Verdict(False, found[0].message, found)


class ChildrenOk(TraceExpectation):
    """No child process died of an uncaught exception or a signal (the parent's exit
    status does not show it)."""

    kind: Literal["children_ok"]
    allow_exit_codes: list[int] = Field(
        default_factory=list,
        description="exit statuses a child may end with by design (e.g. [1] for buyers that "
        "exit 1 when nothing is left); -N is death by signal N",
    )
    allow_exceptions: list[str] = Field(
        default_factory=list,
        description="exception class names a child may die of by design, e.g. "
        "['KeyboardInterrupt']",
    )
    default_needs: ClassVar[tuple[Fact, ...]] = ("work",)
    default_name: ClassVar[str] = N_("no child process crashes")

    def undecided(self) -> str:
        """No child had crashed."""
        return _("no child process had crashed")

    def _expected_end(self, process: ProcessInfo) -> bool:
        exception = process.exception
        if exception is not None:
            return str(exception.get("type", "")) in self.allow_exceptions
        return process.exitcode in self.allow_exit_codes

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail with the first crashed child's exception and line; an end the spec allows
        (``allow_exit_codes``, ``allow_exceptions``) is not a crash."""
        crashed = [p for p in crashed_children(trace) if not self._expected_end(p)]
        if not crashed:
            # no crash, but a sys.exit() that cut a child short is worth a line of its own,
            # unless the spec says children end with sys.exit() by design
            workers = trace.workers()
            if self.allow_exit_codes:
                allowed = {0, *self.allow_exit_codes}
                workers = [p for p in workers if p.exitcode not in allowed]
            return Verdict(True, "", explain.exited_early(workers))
        found = explain.crashes(crashed)
        return Verdict(False, found[0].message, found)


class ChildrenJoined(TraceExpectation):
    """The program joins every child process it starts (daemons and the children it ends
    with terminate() excepted): multiprocessing's own join at exit does not count."""

    kind: Literal["children_joined"]
    default_needs: ClassVar[tuple[Fact, ...]] = ("workers",)
    default_name: ClassVar[str] = N_("every child process is joined")

    def undecided(self) -> str:
        """The joins come at the end, which a stopped run did not reach."""
        return _("it had not reached the end of the program, where the joins are")

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail naming the line that started a child the program never joined."""
        if not trace.complete:
            # a run that was stopped never reached its joins: that proves nothing
            return Verdict(True)
        for process in trace.workers():
            start = process.start
            if start is None or start.file is None or process.daemon or process.ended_by:
                continue  # started by the exercise's driver, or not to be joined
            if any(event.file is not None for event in process.joined):
                continue
            where = start.where or start.file
            found = Diagnostic(
                kind="not_joined",
                file=start.file,
                line=start.line,
                message=_(
                    "the process started at {where} is never joined: the program ends "
                    "without waiting for it (multiprocessing waits for it at exit, but the "
                    "task asks you to join it)"
                ).format(where=where),
                hint=_("Keep every Process you start in a list and call join() on each."),
            )
            return Verdict(False, found.message, [found])
        return Verdict(True)


KINDS: tuple[type[TraceExpectation], ...] = (
    NoRace,
    AtomicUpdate,
    Concurrent,
    ChildrenOk,
    ChildrenJoined,
)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the trace kinds."""
    for model in KINDS:
        kinds.add(model)


@hookimpl
def ipcgrader_exercise_loaded(exercise: Exercise, exercise_dir: Path) -> None:
    """A trace expectation must name a declared shared file (only those are traced)."""
    for s_index, scenario in enumerate(exercise.scenarios):
        for e_index, expectation in enumerate(scenario.expect):
            file = getattr(expectation, "file", None)
            if isinstance(expectation, (NoRace, AtomicUpdate)) and (
                file not in exercise.shared_files and file not in STATE_KINDS
            ):
                raise ValueError(
                    _(
                        "scenarios[{s}] (id={id!r}).expect[{e}] ({kind}).file: {file!r} is not "
                        "in shared_files {shared}; only shared files are traced"
                    ).format(
                        s=s_index,
                        id=scenario.id,
                        e=e_index,
                        kind=expectation.kind,
                        file=file,
                        shared=exercise.shared_files,
                    )
                )


#: Kinds of the findings that say why a run was stopped (:func:`ipcgrader.trace.diagnose_hang`).
_STOP_KINDS = ("deadlock", "hang_")


def _point_at_stop(record: RunRecord, check: str, expectation: Expectation) -> None:
    """A check the run's stop kept from being judged points at the findings that say why
    the run stopped ("see 1"). Only a visible check does: a finding the grader made on its
    own is shown to everyone, and one tied only to hidden checks would be withheld."""
    if expectation.visibility.value != STUDENT_VISIBLE:
        return
    record.diagnostics[:] = [
        d.model_copy(update={"checks": (*d.checks, check)})
        if d.kind.startswith(_STOP_KINDS) and check not in d.checks
        else d
        for d in record.diagnostics
    ]


@hookimpl(trylast=True)
def ipcgrader_run_finished(
    exercise: Exercise, scenario: Scenario, record: RunRecord, meta_dir: Path
) -> None:
    """Attach the diagnostics of every expectation's verdict on this run to the run, so
    that reports show them (each distinct finding once per grading). Runs last, after
    every plugin attached its artefacts. Each finding names the check that produced it, so
    that a hidden check's findings stay hidden (:func:`ipcgrader.results.student_diagnostics`).
    """
    ids = check_ids(exercise)
    stopped = record.problem() is not None
    for index, expectation in enumerate(scenario.expect):
        check = ids[(scenario.id, index)]
        if expectation.needs_complete_run and stopped:
            _point_at_stop(record, check, expectation)
            continue
        try:
            verdict = expectation.evaluate(record)
        except Exception:
            continue
        record.diagnostics.extend(
            d.model_copy(update={"checks": (*d.checks, check)}) for d in verdict.diagnostics
        )
        if stopped and (verdict.stopped or verdict.passed is None):
            _point_at_stop(record, check, expectation)
    # every crash of a child at its line, whether or not a check of this scenario asks
    trace = trace_of(record)
    if trace is not None:
        record.diagnostics.extend(explain.crashes(crashed_children(trace)))
