"""Outcome expectations: how a run ended, what it printed, what it left in its files.

These are judged by the grader from outside the student's processes, so they hold whatever
the harness saw or did not see.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from ipcgrader import hookimpl
from ipcgrader.expr import ExpressionError, resolve
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import RunRecord, Verdict, signal_name

Comparison = Literal["eq", "ge", "le"]
_WORDS = {"eq": "exactly", "ge": "at least", "le": "at most"}


def _compare(actual: float, op: Comparison, expected: float) -> bool:
    if op == "ge":
        return actual >= expected
    if op == "le":
        return actual <= expected
    return actual == expected


class ExitCode(Expectation):
    """The main process exits by itself with the given status."""

    kind: Literal["exit_code"]
    expected: int = 0
    default_name: ClassVar[str] = "program exits cleanly"
    needs_complete_run: ClassVar[bool] = False

    def evaluate(self, run: RunRecord) -> Verdict:
        """Pass when the run ended by itself with ``expected`` as its status."""
        outcome = run.outcome
        if run.student_error is not None or outcome.stopped is not None:
            return Verdict(False, run.problem() or "did not finish")
        if outcome.signal is not None:
            return Verdict(False, f"was killed by {signal_name(outcome.signal)}")
        if outcome.returncode != self.expected:
            return Verdict(False, f"exit status {outcome.returncode}, expected {self.expected}")
        return Verdict(True)


class Finishes(Expectation):
    """The run ends by itself within its timeout (no deadlock, no endless loop)."""

    kind: Literal["finishes"]
    default_name: ClassVar[str] = "finishes in time"
    needs_complete_run: ClassVar[bool] = False

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail only when the run had to be stopped."""
        if run.outcome.stopped == "timeout":
            return Verdict(False, f"still running after {run.timeout_s:g} s: stopped")
        if run.outcome.stopped is not None:
            return Verdict(False, run.problem() or "was stopped")
        return Verdict(True)


class OutputCount(Expectation):
    """The number of output lines matching ``pattern`` compares to ``expected``."""

    kind: Literal["stdout_count"]
    pattern: str
    expected: int | str = Field(description="a number or an expression of the parameters")
    compare: Comparison = "eq"
    stream: Literal["stdout", "stderr"] = "stdout"
    default_name: ClassVar[str] = "output lines"

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    def evaluate(self, run: RunRecord) -> Verdict:
        """Count matching lines and compare."""
        try:
            expected = resolve(self.expected, run.params)
        except ExpressionError as exc:
            return Verdict(None, f"bad expected value in the exercise: {exc}")
        text = run.outcome.stdout if self.stream == "stdout" else run.outcome.stderr
        regex = re.compile(self.pattern)
        count = sum(1 for line in text.splitlines() if regex.search(line))
        if _compare(count, self.compare, expected):
            return Verdict(True)
        return Verdict(
            False,
            f"expected {_WORDS[self.compare]} {expected} line(s) matching {self.pattern!r}, "
            f"got {count}",
        )


def _dig(value: Any, path: str | None) -> Any:
    for key in (path or "").split(".") if path else ():
        value = value[int(key)] if isinstance(value, list) and key.isdigit() else value[key]
    return value


class FinalJson(Expectation):
    """A JSON file's content when the run is over (or one value in it, by ``path``)."""

    kind: Literal["final_json"]
    file: str
    path: str | None = Field(None, description="dotted path into the JSON, e.g. 'count'")
    expected: Any = Field(description="the value; a string is an expression of the parameters")
    literal: bool = Field(False, description="take a string `expected` as a plain string")
    default_name: ClassVar[str] = "final file content"

    def evaluate(self, run: RunRecord) -> Verdict:
        """Parse the collected file and compare."""
        try:
            expected = self.expected if self.literal else resolve(self.expected, run.params)
        except ExpressionError as exc:
            return Verdict(None, f"bad expected value in the exercise: {exc}")
        data = run.files.get(self.file)
        if data is None:
            return Verdict(False, f"{self.file} does not exist at the end of the run")
        try:
            content = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            shown = data[:80].decode("utf-8", errors="replace")
            return Verdict(False, f"{self.file} is not valid JSON at the end ({exc}): {shown!r}")
        try:
            actual = _dig(content, self.path)
        except (KeyError, IndexError, TypeError):
            return Verdict(False, f"{self.file} has no {self.path!r}: {content!r}")
        if actual == expected:
            return Verdict(True)
        what = f"{self.file} {self.path}" if self.path else self.file
        return Verdict(False, f"{what} is {actual!r} at the end, expected {expected!r}")


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the outcome kinds."""
    for model in (ExitCode, Finishes, OutputCount, FinalJson):
        kinds.add(model)
