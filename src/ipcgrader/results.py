"""What grading produces: run records (internal) and results (reported).

``RunOutcome`` and ``RunRecord`` are plain dataclasses handed to checks; ``CheckResult``,
``ExerciseResult`` and ``BatchResult`` are pydantic models because reporters serialise them
(the JSON shape is the stable interface in DESIGN.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ipcgrader.models import Limits

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` safe to show in a report: control characters (ANSI escapes, carriage
    returns, bidi overrides) written as escapes, so a student's program cannot paint over
    the grader's own lines; cut to ``limit`` characters."""
    cleaned = _UNPRINTABLE.sub(lambda m: ascii(m[0])[1:-1], text)
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


class Diagnostic(BaseModel):
    """A finding about the student's code, pointing at their own file and line."""

    model_config = ConfigDict(frozen=True)

    kind: str
    file: str | None = None
    line: int | None = None
    message: str
    hint: str | None = None

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
    #: why the supervisor stopped the run early: "timeout", "output", "processes",
    #: "killed" (the supervisor itself was killed), or None
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
    #: forked from the grading's warm interpreter (``ipcgrader.warm``), not started cold
    warm: bool = False

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.returncode == 0 and not self.timed_out and self.stopped is None


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


#: Every ``RunOutcome.reason``: how a run can end abnormally.
END_REASONS: dict[str, str] = {
    "timeout": "did not finish within its timeout; stopped with TERM, then KILL",
    "output": "printed more than the output cap (its head and tail are kept)",
    "processes": "had more processes at once than allowed",
    "killed": "its supervisor was killed (by the program, or from outside)",
    "memory": "ran out of memory under the address-space limit (MemoryError)",
    "file_size": "wrote a file over the file-size limit (SIGXFSZ or EFBIG)",
    "cpu": "used up its CPU time (SIGXCPU)",
    "signal": "was killed by a signal it did not handle (a crash)",
    "exit": "exited with a non-zero status",
    "left_running": "exited while some of its processes were still running",
}


def _size(n: int | None) -> str:
    if n is None:
        return "the limit"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _limit_problem(reason: str | None, run: RunRecord) -> str | None:
    """Student-facing words for the reasons that are limits the grader enforced."""
    limits = run.outcome.limits or Limits()
    if reason == "timeout":
        return f"did not finish within {run.timeout_s:g} s and was stopped"
    if reason == "output":
        return (
            f"printed more than {_size(limits.output_bytes)} and was stopped "
            "(the start and the end of its output are kept)"
        )
    if reason == "processes":
        most = f"more than {limits.processes}" if limits.processes else "too many"
        return f"had {most} processes at once and was stopped"
    if reason == "killed":
        return "was stopped before it finished: its supervisor was killed (by the program?)"
    if reason == "memory":
        limit = f" (limit {limits.memory_mb} MiB per process)" if limits.memory_mb else ""
        return f"ran out of memory{limit}"
    if reason == "file_size":
        return f"tried to write a file larger than the limit ({_size(limits.file_bytes)})"
    if reason == "cpu":
        most = f"more than {limits.cpu_s} s" if limits.cpu_s else "all its"
        return f"used {most} of CPU time and was killed"
    return None


_SIGNAL_MEANINGS = {
    "SIGXCPU": "SIGXCPU (CPU time limit)",
    "SIGXFSZ": "SIGXFSZ (a file grew over the size limit)",
    "SIGSEGV": "SIGSEGV (a crash, often the memory limit)",
    "SIGKILL": "SIGKILL",
}


def signal_name(number: int) -> str:
    """``SIGTERM``-style name of a signal number, with what it usually means here."""
    import signal

    try:
        name = signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
    return _SIGNAL_MEANINGS.get(name, name)


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
    #: extra data plugins attach in ``ipcgrader_run_finished`` (e.g. the parsed trace)
    artifacts: dict[str, Any] = field(default_factory=dict)
    #: findings for the student that plugins attach (reported once per grading)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    timeout_s: float = 0.0

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
            return "was stopped before it finished"
        error = self.student_error
        if error is not None:
            where = f" ({error.file}, line {error.line})" if error.file and error.line else ""
            return f"{error.message}{where}"
        if outcome.signal is not None:
            return f"was killed by {signal_name(outcome.signal)}"
        if outcome.returncode not in (0, None):
            return f"exited with status {outcome.returncode}"
        if reason == "left_running":
            n = outcome.leftovers
            were = "was" if n == 1 else "were"
            return (
                f"exited before its work was done: {n} of its processes {were} still "
                f"running and {were} stopped"
            )
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


class CheckResult(BaseModel):
    """The graded result of one expectation over all runs of its scenario."""

    id: str
    name: str
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


class ExerciseResult(BaseModel):
    """One grading: one submission against one exercise. Its JSON is the stable interface."""

    exercise: str
    submission: str
    status: Status
    score: float
    max_score: float
    duration_s: float
    checks: list[CheckResult] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    error: str | None = Field(None, description="why the grader itself failed, if it did")

    @property
    def full_marks(self) -> bool:
        """Every point was earned."""
        return self.status is Status.passed


class BatchResult(BaseModel):
    """Many gradings, e.g. a class's submissions to one or more exercises."""

    results: list[ExerciseResult] = Field(default_factory=list)
    duration_s: float = 0.0
