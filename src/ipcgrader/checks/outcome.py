"""Outcome expectations: how a run ended, what it printed, what it left in its files.

These are judged by the grader from outside the student's processes, so they hold whatever
the harness saw or did not see.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ipcgrader import hookimpl
from ipcgrader.checks.observed import compare
from ipcgrader.expr import ExpressionError, resolve
from ipcgrader.i18n import N_, _
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import RunRecord, Verdict, signal_name

Comparison = Literal["eq", "ge", "le"]
_WORDS = {"eq": "exactly", "ge": "at least", "le": "at most"}
_COMPARE_WORDS = {
    "ne": N_("anything but"),
    "lt": N_("less than"),
    "le": N_("at most"),
    "gt": N_("more than"),
    "ge": N_("at least"),
}


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

    def expressions(self) -> list[tuple[str, str]]:
        """``expected``, when it is an expression."""
        return [("expected", self.expected)] if isinstance(self.expected, str) else []

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
            expected = resolve(self.expected, run.names())
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
    expected: Any = Field(
        description="the value; a string is an expression of the parameters and run facts; "
        "[low, high] with compare = 'between'"
    )
    compare: Literal["eq", "ne", "lt", "le", "gt", "ge", "between"] = Field(
        "eq", description="how the file's value compares to expected"
    )
    literal: bool = Field(False, description="take a string `expected` as a plain string")
    default_name: ClassVar[str] = "final file content"

    @model_validator(mode="after")
    def _between_pair(self) -> FinalJson:
        if self.compare == "between" and not (
            isinstance(self.expected, list) and len(self.expected) == 2
        ):
            raise ValueError("compare = 'between' needs expected = [low, high]")
        return self

    def expressions(self) -> list[tuple[str, str]]:
        """``expected`` (or the bounds of a range), when they are expressions."""
        if self.literal:
            return []
        if isinstance(self.expected, list) and self.compare == "between":
            return [
                (f"expected[{i}]", v) for i, v in enumerate(self.expected) if isinstance(v, str)
            ]
        return [("expected", self.expected)] if isinstance(self.expected, str) else []

    def evaluate(self, run: RunRecord) -> Verdict:
        """Parse the collected file and compare."""
        try:
            if self.literal:
                expected = self.expected
            elif self.compare == "between":
                expected = [resolve(bound, run.names()) for bound in self.expected]
            else:
                expected = resolve(self.expected, run.names())
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
        try:
            ok = compare(self.compare, actual, expected)
        except TypeError:
            ok = False
        if ok:
            return Verdict(True)
        what = f"{self.file} {self.path}" if self.path else self.file
        if self.compare == "eq":
            return Verdict(False, f"{what} is {actual!r} at the end, expected {expected!r}")
        if self.compare == "between":
            return Verdict(
                False,
                _("{what} is {actual} at the end, expected between {low} and {high}").format(
                    what=what, actual=repr(actual), low=repr(expected[0]), high=repr(expected[1])
                ),
            )
        return Verdict(
            False,
            _("{what} is {actual} at the end, expected {relation} {expected}").format(
                what=what,
                actual=repr(actual),
                relation=_(_COMPARE_WORDS[self.compare]),
                expected=repr(expected),
            ),
        )


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the outcome kinds."""
    for model in (ExitCode, Finishes, OutputCount, FinalJson):
        kinds.add(model)
