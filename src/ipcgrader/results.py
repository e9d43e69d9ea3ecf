"""What grading produces: run records (internal) and results (reported).

``RunOutcome`` and ``RunRecord`` are plain dataclasses handed to checks; ``CheckResult``,
``ExerciseResult`` and ``BatchResult`` are pydantic models because reporters serialise them
(their JSON shape is the stable interface, see README).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ipcgrader.i18n import N_, Text, _, ngettext, render, use_language
from ipcgrader.models import Limits

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to show in a report: control characters (ANSI escapes, carriage
    returns, bidi overrides) written as escapes, so a student's program cannot paint over
    the grader's own lines; cut to ``limit`` characters."""
    cleaned = _UNPRINTABLE.sub(lambda m: ascii(m[0])[1:-1], text)
    if cleaned == text and (limit is None or len(text) <= limit):
        return text  # unchanged: a translated Text keeps its source
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned


class Status(str, Enum):
    """Status of a check or a whole grading.

    ``error`` on a check means "could not check" (e.g. the trace was missing); on a grading it
    means the grader itself failed.
    """

    passed = "passed"
    failed = "failed"
    error = "error"


def _keep_sources(data: Any, fields: tuple[str, ...]) -> Any:
    """Record in ``i18n`` how each translated field was made (see :class:`Translatable`)."""
    if not isinstance(data, dict):
        return data
    sources = {
        name: data[name].source
        for name in fields
        if isinstance(data.get(name), Text) and not isinstance(data[name].source, str)
    }
    if sources:
        data = {**data, "i18n": {**(data.get("i18n") or {}), **sources}}
    return data


class Translatable(BaseModel):
    """A result part whose sentences can be said again in another language.

    A text field given a :class:`~ipcgrader.i18n.Text` keeps its source in ``i18n`` (field
    name -> source); :meth:`in_language` renders those fields again. Fields given a plain
    ``str`` stay as they are in every language.
    """

    #: the fields whose sources are kept
    translated_fields: ClassVar[tuple[str, ...]] = ()
    i18n: dict[str, Any] = Field(
        default_factory=dict, description="how each text was made, to render it in any language"
    )

    @model_validator(mode="before")
    @classmethod
    def _sources(cls, data: Any) -> Any:
        return _keep_sources(data, cls.translated_fields)

    def rendered(self) -> dict[str, Any]:
        """The translated fields said in the current language."""
        return {name: render(source) for name, source in self.i18n.items()}


class Diagnostic(Translatable):
    """A finding about the student's code, pointing at their own file and line."""

    model_config = ConfigDict(frozen=True)
    translated_fields: ClassVar[tuple[str, ...]] = ("message", "hint")

    kind: str
    file: str | None = None
    line: int | None = None
    message: str
    hint: str | None = None
    #: ids of the checks whose verdicts produced this finding; empty when the grader found
    #: it on its own (a crash, a syntax error, a hang). Decides who may see it: see
    #: :func:`student_diagnostics`.
    checks: tuple[str, ...] = ()

    @field_validator("file", "message", "hint")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return None if value is None else printable(value)


@dataclass
class Verdict:
    """A check's judgement of one run. ``passed=None`` means "could not check"."""

    passed: bool | None
    message: str = ""
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: failed only because the run did not end normally (``message`` says how it ended):
    #: the check's own failure message and hint would claim what never happened
    stopped: bool = False


def stopped_verdict(problem: str) -> Verdict:
    """The verdict of a check that the run's abnormal end kept from being judged: it fails
    (nothing it scores happened) and says how the run ended (``problem``, from
    :meth:`RunRecord.problem`), never what the check would claim had it been judged."""
    return Verdict(
        False, _("not judged: the program {problem}").format(problem=problem), stopped=True
    )


@dataclass
class RunOutcome:
    """How one sandboxed run ended."""

    returncode: int | None
    signal: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    #: why the supervisor stopped the run early: "timeout", "deadlock" (every process
    #: blocked for good), "cpu_budget" (the run's CPU budget used up), "output",
    #: "processes", "killed" (the supervisor itself was killed), or None
    stopped: str | None = None
    #: processes still alive at the end that the sweep had to kill
    leftovers: int = 0
    isolation: list[str] = field(default_factory=list)
    #: why the run ended abnormally, one of :data:`END_REASONS`; None if it ended normally
    reason: str | None = None
    #: the limits the run had (for messages that name them)
    limits: Limits | None = None
    #: how long the grader waited for the run, start-up and clean-up included
    wall_s: float = 0.0
    #: most processes of the run seen alive at once
    peak_processes: int = 0
    #: CPU seconds the main process used (None: unknown)
    cpu_s: float | None = None
    #: when the supervisor decided to stop the run (``time.monotonic()``, the clock of the
    #: trace's events); None if it ended by itself
    stopped_t: float | None = None
    #: CPU seconds every process of the run used together (None: unknown); what the
    #: ``run_cpu_s`` budget is compared with
    run_cpu_s: float | None = None
    #: the CPU budget the run was held to (None: none, or unknown): the limits'
    #: ``run_cpu_s``, plus a start-up for each interpreter the run started afresh (a cold
    #: run's main process, a spawn child not made from a warm template)
    cpu_budget_s: float | None = None
    #: forked from the grading's warm interpreter (``ipcgrader.warm``), not started cold
    warm: bool = False
    #: a run stopped as ``deadlock``: what the supervisor saw (``supervise.describe_stuck``:
    #: each process's board, a watching thread's looks, how far apart the samples were);
    #: evidence for the instructor and the project, never shown to a student
    stuck: str | None = None

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out and self.stopped is None


class ExerciseCodeError(Exception):
    """Exercise-owned code (a driver, a helper beside it, an exercise's plugin.py) failed
    while grading. ``str()`` is ``file:line: Exception: text``."""


def exercise_location(exc: BaseException, directory: Path) -> str | None:
    """``plugin.py:12: NameError: ...`` when the innermost frame of ``exc`` that is not
    library code lies in the exercise folder ``directory``; None otherwise."""
    import traceback

    root = directory.resolve()
    found: str | None = None
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(root):
            found = f"{path.relative_to(root)}:{frame.lineno}"
    if found is None:
        return None
    return f"{found}: {type(exc).__name__}: {exc}"


@dataclass
class StudentError:
    """The student's code could not even be driven: an import error or a missing function."""

    kind: str  # "syntax_error", "import_error", "missing_function", "driver_error"
    message: str
    file: str | None = None
    line: int | None = None
    exception: str | None = None

    def __post_init__(self) -> None:
        # the message quotes the student's own exception text: keep it one plain line
        self.message = printable(self.message, limit=500)
        self.file = None if self.file is None else printable(self.file, limit=200)


#: Every ``RunOutcome.reason``: how a run can end abnormally (translate with ``_()``).
END_REASONS: dict[str, str] = {
    "timeout": N_("did not finish within its timeout; stopped with TERM, then KILL"),
    "deadlock": N_("every process was blocked for good (a deadlock); stopped at once"),
    "cpu_budget": N_("its processes together used up the run's CPU budget; stopped"),
    "output": N_("printed more than the output cap (its head and tail are kept)"),
    "processes": N_("had more processes at once than allowed"),
    "killed": N_("its supervisor was killed (by the program, or from outside)"),
    "memory": N_("ran out of memory under the address-space limit (MemoryError)"),
    "file_size": N_("wrote a file over the file-size limit (SIGXFSZ or EFBIG)"),
    "cpu": N_("used up its CPU time (SIGXCPU)"),
    "signal": N_("was killed by a signal it did not handle (a crash)"),
    "exit": N_("exited with a non-zero status"),
    "left_running": N_("exited while some of its processes were still running"),
}


def _size(n: int | None) -> str:
    if n is None:
        return _("the limit")
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return _("{n} bytes").format(n=n)


def _limit_problem(reason: str | None, run: RunRecord) -> str | None:
    """Student-facing words for the reasons that are limits the grader enforced."""
    limits = run.outcome.limits or Limits()
    if reason == "timeout":
        return _("did not finish within {seconds:g} s and was stopped").format(
            seconds=run.timeout_s
        )
    if reason == "output":
        return _(
            "printed more than {size} and was stopped (the start and the end of its output "
            "are kept)"
        ).format(size=_size(limits.output_bytes))
    if reason == "processes":
        if limits.processes:
            return _("had more than {n} processes at once and was stopped").format(
                n=limits.processes
            )
        return _("had too many processes at once and was stopped")
    if reason == "killed":
        return _("was stopped before it finished: its supervisor was killed (by the program?)")
    if reason == "deadlock":
        return _(
            "was stopped: every one of its processes was waiting for another one (a lock, "
            "a join, a queue, a pipe, an Event ...), so none could ever go on (a deadlock)"
        )
    if reason == "cpu_budget":
        budget = run.outcome.cpu_budget_s or limits.run_cpu_s
        used = run.outcome.run_cpu_s
        if budget is None or used is None:
            return _("kept computing until its CPU budget was used up and was stopped")
        # what was measured, not a guess at why: an endless loop and a correct program
        # with many more processes than the task asks for both end up here
        n = _processes_started(run)
        return ngettext(
            "was stopped when its {n} process had used {used:.2f} s of CPU time, more than "
            "the {budget:g} s this run may use",
            "was stopped when its {n} processes had used {used:.2f} s of CPU time together, "
            "more than the {budget:g} s this run may use",
            n,
        ).format(n=n, used=used, budget=budget)
    if reason == "memory":
        if limits.memory_mb:
            return _("ran out of memory (limit {mb} MiB per process)").format(mb=limits.memory_mb)
        return _("ran out of memory")
    if reason == "file_size":
        return _("tried to write a file larger than the limit ({size})").format(
            size=_size(limits.file_bytes)
        )
    if reason == "cpu":
        if limits.cpu_s:
            return _("used more than {seconds} s of CPU time and was killed").format(
                seconds=limits.cpu_s
            )
        return _("used all its CPU time and was killed")
    return None


def _processes_started(run: RunRecord) -> int:
    """How many processes the run had: every one its trace saw, else the most at once."""
    processes = getattr(run.artifacts.get("trace"), "processes", None)
    if isinstance(processes, dict) and processes:
        return len(processes)
    return max(1, run.outcome.peak_processes)


_SIGNAL_MEANINGS = {
    "SIGXCPU": N_("SIGXCPU (CPU time limit)"),
    "SIGXFSZ": N_("SIGXFSZ (a file grew over the size limit)"),
    "SIGSEGV": N_("SIGSEGV (a crash, often the memory limit)"),
}


def signal_name(number: int) -> str:
    """``SIGTERM``-style name of a signal number, with what it usually means here."""
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return _("signal {number}").format(number=number)
    meaning = _SIGNAL_MEANINGS.get(name)
    return _(meaning) if meaning else name


@dataclass
class RunRecord:
    """Everything checks may look at after one run of one scenario."""

    exercise_id: str
    scenario_id: str
    start_method: str | None
    repeat: int
    params: dict[str, Any]
    outcome: RunOutcome
    #: final content of the scenario's fixture, collected and shared files (None: absent)
    files: dict[str, bytes | None] = field(default_factory=dict)
    student_error: StudentError | None = None
    #: the exercise's own code (driver, helper, plugin.py) failed in this run:
    #: ``drivers/buy.py:17: NameError: ...``; the run says nothing about the student
    exercise_error: str | None = None
    #: extra data plugins attach in ``ipcgrader_run_finished`` (e.g. the parsed trace)
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: findings for the student that plugins attach (reported once per grading)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timeout_s: float = 0.0

    def facts(self) -> dict[str, Any]:
        """Facts observed in this run that expressions may use (``expr.RUN_FACTS``); a fact
        the run cannot tell (no trace) is absent, so a check needing it cannot check."""
        facts: dict[str, Any] = {}
        trace = self.artifacts.get("trace")
        workers = getattr(trace, "workers", None)
        if callable(workers):
            facts["processes"] = len(workers())
        return facts

    def names(self) -> dict[str, Any]:
        """What an expression of a check may use on this run: parameters and run facts."""
        return {**self.facts(), **self.params}

    def problem(self) -> str | None:
        """Why this run did not end normally, in a student's words; None if it did.

        A limit the grader enforced comes first (it is the cause: a MemoryError traceback
        is the symptom), then the student's own error with its file and line."""
        outcome = self.outcome
        reason = outcome.reason or outcome.stopped
        limit = _limit_problem(reason, self)
        if limit is not None:
            return limit
        if outcome.stopped is not None:
            return _("was stopped before it finished")
        error = self.student_error
        if error is not None:
            if error.file and error.line:
                return _("{problem} ({file}, line {line})").format(
                    problem=error.message, file=error.file, line=error.line
                )
            return error.message
        if outcome.signal is not None:
            return _("was killed by {signal}").format(signal=signal_name(outcome.signal))
        if outcome.returncode not in (0, None):
            return _("exited with status {status}").format(status=outcome.returncode)
        if reason == "left_running":
            n = outcome.leftovers
            return ngettext(
                "exited before its work was done: {n} of its processes was still running "
                "and was stopped",
                "exited before its work was done: {n} of its processes were still running "
                "and were stopped",
                n,
            ).format(n=n)
        return None

    @property
    def label(self) -> str:
        """Short name of the run for messages: scenario, start method and repeat."""
        parts = [self.scenario_id]
        if self.start_method:
            parts.append(self.start_method)
        if self.repeat:
            parts.append(f"repeat {self.repeat + 1}")
        return ", ".join(parts)


class CheckResult(Translatable):
    """The graded result of one expectation over all runs of its scenario."""

    translated_fields: ClassVar[tuple[str, ...]] = (
        "name",
        "title",
        "scenario_name",
        "message",
        "hint",
    )

    id: str
    #: scenario and check, e.g. "1 ticket, 4 buyers: ticket.json ends at 0"
    name: str
    #: the check alone ("ticket.json ends at 0"), for reports that group by scenario
    title: str | None = None
    #: the scenario in words, with its start methods ("1 ticket, 4 buyers; also under spawn")
    scenario_name: str | None = None
    status: Status
    score: float
    max_score: float
    message: str = ""
    hint: str | None = None
    visibility: str = "visible"
    scenario: str | None = None
    kind: str | None = None

    @field_validator("message")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable(value)


class ExerciseResult(Translatable):
    """One grading: one submission against one exercise. Its JSON is the stable interface."""

    translated_fields: ClassVar[tuple[str, ...]] = ("error",)

    exercise: str
    submission: str
    status: Status
    score: float
    max_score: float
    duration_s: float
    checks: list[CheckResult] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    error: str | None = Field(None, description="why the grader itself failed, if it did")
    exercise_error: str | None = Field(
        None,
        description="set when the exercise's own code failed (status error, exit 2): "
        "'drivers/buy.py:17: NameError: ...'; the student is not charged for it",
    )

    @property
    def full_marks(self) -> bool:
        """Every point was earned."""
        return self.status is Status.passed

    def in_language(self, lang: str) -> ExerciseResult:
        """This result with every translated sentence said in ``lang`` (the sentences made
        without a source, e.g. by an older grader, stay as stored)."""
        with use_language(lang):
            data = self.model_dump()
            data.update(self.rendered())
            for part, model in (("checks", self.checks), ("diagnostics", self.diagnostics)):
                data[part] = [{**d, **m.rendered()} for d, m in zip(data[part], model, strict=True)]
        return ExerciseResult.model_validate(data)


class BatchResult(BaseModel):
    """Many gradings, e.g. a class's submissions to one or more exercises."""

    results: list[ExerciseResult] = Field(default_factory=list)
    duration_s: float = 0.0


#: The only visibility a student sees at once, wherever the report goes.
STUDENT_VISIBLE = "visible"


def shown_to_student(diagnostic: Diagnostic, visibility: dict[str, str]) -> bool:
    """Whether a finding may reach a student-visible place now.

    ``visibility`` maps check ids to their visibility. A finding the grader made on its own
    (no producing check) is shown; one produced by checks is shown only when at least one of
    them is ``visible`` — findings that only hidden (or not yet released) checks produced
    stay with those checks.
    """
    if not diagnostic.checks:
        return True
    return any(visibility.get(c, STUDENT_VISIBLE) == STUDENT_VISIBLE for c in diagnostic.checks)


def student_diagnostics(result: ExerciseResult) -> list[Diagnostic]:
    """The findings of ``result`` a student may see at once (top-level output, terminal)."""
    visibility = {c.id: c.visibility for c in result.checks}
    return [d for d in result.diagnostics if shown_to_student(d, visibility)]


def withheld_diagnostics(result: ExerciseResult, check_id: str) -> list[Diagnostic]:
    """Findings ``check_id`` produced that :func:`student_diagnostics` withholds: a
    reporter with per-check visibility (Gradescope) shows them with that check."""
    visibility = {c.id: c.visibility for c in result.checks}
    return [
        d
        for d in result.diagnostics
        if check_id in d.checks and not shown_to_student(d, visibility)
    ]


def student_view(result: ExerciseResult) -> ExerciseResult:
    """``result`` as a student may see it now: only ``visible`` checks, only the findings
    :func:`student_diagnostics` lets through, score and status over the visible checks.

    Every reporter writing to a student-visible place renders this instead of the full
    result (``--view student``); Gradescope's per-test visibility does the same job for its
    tests, and its top-level output uses :func:`student_diagnostics`.
    """
    checks = [c for c in result.checks if c.visibility == STUDENT_VISIBLE]
    if len(checks) == len(result.checks):
        return result.model_copy(update={"diagnostics": student_diagnostics(result)})
    score = round(sum(c.score for c in checks), 6)
    max_score = sum(c.max_score for c in checks)
    status = result.status
    if status is not Status.error:
        status = Status.passed if abs(score - max_score) < 1e-9 else Status.failed
    return result.model_copy(
        update={
            "checks": checks,
            "diagnostics": student_diagnostics(result),
            "score": score,
            "max_score": max_score,
            "status": status,
        }
    )
