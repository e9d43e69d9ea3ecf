"""What grading produces: run records (internal) and results (reported).

``RunOutcome`` and ``RunRecord`` are plain dataclasses handed to checks; ``CheckResult``,
``ExerciseResult`` and ``BatchResult`` are pydantic models because reporters serialise them
(the JSON shape is the stable interface in DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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
    #: why the supervisor stopped the run early: "timeout", "output", "killed", or None
    stopped: str | None = None
    #: processes still alive at the end that the sweep had to kill
    leftovers: int = 0
    isolation: list[str] = field(default_factory=list)

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
        """Why this run did not end normally, in a student's words; None if it did."""
        error = self.student_error
        if error is not None:
            where = f" ({error.file}, line {error.line})" if error.file and error.line else ""
            return f"{error.message}{where}"
        outcome = self.outcome
        if outcome.stopped == "timeout":
            return f"did not finish within {self.timeout_s:g} s and was stopped"
        if outcome.stopped == "output":
            return "printed more than the output limit and was stopped"
        if outcome.stopped == "processes":
            return "started more processes than allowed and was stopped"
        if outcome.stopped is not None:
            return "was stopped before it finished (its supervisor was killed)"
        if outcome.signal is not None:
            return f"was killed by {signal_name(outcome.signal)}"
        if outcome.returncode not in (0, None):
            return f"exited with status {outcome.returncode}"
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
