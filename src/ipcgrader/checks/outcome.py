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
from ipcgrader.i18n import N_, _, join, ngettext
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import RunRecord, Verdict, printable, signal_name

Comparison = Literal["eq", "ge", "le"]
#: How many lines of output and of a file a failed check shows (head and tail).
SHOWN_HEAD, SHOWN_TAIL = 6, 3
_COMPARE_WORDS = {
    "ne": N_("anything but"),
    "lt": N_("less than"),
    "le": N_("at most"),
    "gt": N_("more than"),
    "ge": N_("at least"),
}


def check_between(compare_as: str, expected: Any) -> None:
    """``compare = 'between'`` needs ``expected = [low, high]`` (final_json, final_state)."""
    if compare_as == "between" and not (isinstance(expected, list) and len(expected) == 2):
        raise ValueError("compare = 'between' needs expected = [low, high]")


def expected_expressions(expected: Any, compare_as: str, literal: bool) -> list[tuple[str, str]]:
    """``expected`` (or the bounds of a range), when they are expressions."""
    if literal:
        return []
    if isinstance(expected, list) and compare_as == "between":
        return [(f"expected[{i}]", v) for i, v in enumerate(expected) if isinstance(v, str)]
    return [("expected", expected)] if isinstance(expected, str) else []


def expected_value(expected: Any, compare_as: str, literal: bool, run: RunRecord) -> Any:
    """``expected`` for this run (its expressions resolved); raises ExpressionError."""
    if literal:
        return expected
    if compare_as == "between":
        return [resolve(bound, run.names()) for bound in expected]
    return resolve(expected, run.names())


def wrong_value(
    said: tuple[str, str, str], what: str, actual: Any, expected: Any, compare_as: str
) -> str:
    """The sentence for a final value that does not compare as it should; ``said`` holds
    the (N_-marked) sentences for equal, between and another relation, in that order."""
    equal, between, relation = said
    if compare_as == "eq":
        return _(equal).format(what=what, actual=value_text(actual), expected=value_text(expected))
    if compare_as == "between":
        return _(between).format(
            what=what,
            actual=value_text(actual),
            low=value_text(expected[0]),
            high=value_text(expected[1]),
        )
    return _(relation).format(
        what=what,
        actual=value_text(actual),
        relation=_(_COMPARE_WORDS[compare_as]),
        expected=value_text(expected),
    )


_FILE_VALUE = (
    N_("{what} is {actual} at the end, expected {expected}"),
    N_("{what} is {actual} at the end, expected between {low} and {high}"),
    N_("{what} is {actual} at the end, expected {relation} {expected}"),
)


def value_text(value: Any) -> str:
    """A value from a file as the student wrote it (JSON, CJK kept), not as Python shows it."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _excerpt(lines: list[str]) -> list[str]:
    """Head and tail of ``lines`` (each cut to a screen line), the middle counted."""
    if len(lines) > SHOWN_HEAD + SHOWN_TAIL + 1:
        skipped = len(lines) - SHOWN_HEAD - SHOWN_TAIL
        middle = ngettext("… {n} more line …", "… {n} more lines …", skipped).format(n=skipped)
        return [
            *_indented(lines[:SHOWN_HEAD]),
            join(["    ", middle], ""),
            *_indented(lines[-SHOWN_TAIL:]),
        ]
    return _indented(lines)


def _indented(lines: list[str]) -> list[str]:
    return ["    " + printable(line, limit=120) for line in lines]


def shown_output(lines: list[str], stream: str = "stdout") -> str:
    """What the program printed, for a failed output check: head and tail, capped."""
    if not lines:
        if stream == "stderr":
            return _("The program wrote nothing to stderr.")
        return _("The program printed nothing.")
    if stream == "stderr":
        said = ngettext(
            "The program wrote {n} line to stderr:",
            "The program wrote {n} lines to stderr:",
            len(lines),
        )
    else:
        said = ngettext(
            "The program printed {n} line:", "The program printed {n} lines:", len(lines)
        )
    return join([said.format(n=len(lines)), *_excerpt(lines)])


def shown_file(name: str, data: bytes) -> str:
    """A file's final content, for a failed final-state check: head and tail, capped."""
    text = data.decode("utf-8-sig", errors="replace")
    if not text.strip():
        return _("{file} is empty at the end.").format(file=name)
    return join([_("{file} at the end:").format(file=name), *_excerpt(text.splitlines())])


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
    default_name: ClassVar[str] = N_("program exits cleanly")
    needs_complete_run: ClassVar[bool] = False

    def evaluate(self, run: RunRecord) -> Verdict:
        """Pass when the run ended by itself with ``expected`` as its status."""
        outcome = run.outcome
        if run.student_error is not None or outcome.stopped is not None:
            return Verdict(False, run.problem() or _("did not finish"))
        if outcome.signal is not None:
            return Verdict(
                False, _("was killed by {signal}").format(signal=signal_name(outcome.signal))
            )
        if outcome.returncode != self.expected:
            return Verdict(
                False,
                _("the program exited with status {status}, expected {expected}").format(
                    status=outcome.returncode, expected=self.expected
                ),
            )
        return Verdict(True)


class Finishes(Expectation):
    """The run ends by itself within its timeout (no deadlock, no endless loop)."""

    kind: Literal["finishes"]
    default_name: ClassVar[str] = N_("finishes in time")
    needs_complete_run: ClassVar[bool] = False

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail only when the run had to be stopped."""
        if run.outcome.stopped == "timeout":
            return Verdict(
                False,
                _("still running after {seconds:g} s, so it was stopped").format(
                    seconds=run.timeout_s
                ),
            )
        if run.outcome.stopped is not None:
            return Verdict(False, run.problem() or _("was stopped"))
        return Verdict(True)


class OutputCount(Expectation):
    """The number of output lines matching ``pattern`` compares to ``expected``."""

    kind: Literal["stdout_count"]
    pattern: str
    expected: int | str = Field(description="a number or an expression of the parameters")
    compare: Comparison = "eq"
    stream: Literal["stdout", "stderr"] = "stdout"
    default_name: ClassVar[str] = N_("output lines")

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
            return Verdict(None, _("bad expected value in the exercise: {error}").format(error=exc))
        text = run.outcome.stdout if self.stream == "stdout" else run.outcome.stderr
        regex = re.compile(self.pattern)
        lines = text.splitlines()
        count = sum(1 for line in lines if regex.search(line))
        if _compare(count, self.compare, expected):
            return Verdict(True)
        wanted = {
            "eq": ngettext(
                "expected exactly {expected} line with “{pattern}”, found {count}",
                "expected exactly {expected} lines with “{pattern}”, found {count}",
                int(expected),
            ),
            "ge": ngettext(
                "expected at least {expected} line with “{pattern}”, found {count}",
                "expected at least {expected} lines with “{pattern}”, found {count}",
                int(expected),
            ),
            "le": ngettext(
                "expected at most {expected} line with “{pattern}”, found {count}",
                "expected at most {expected} lines with “{pattern}”, found {count}",
                int(expected),
            ),
        }[self.compare].format(expected=expected, pattern=self.pattern, count=count)
        return Verdict(False, join([wanted, shown_output(lines, self.stream)]))


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
    default_name: ClassVar[str] = N_("final file content")

    @model_validator(mode="after")
    def _between_pair(self) -> FinalJson:
        check_between(self.compare, self.expected)
        return self

    def expressions(self) -> list[tuple[str, str]]:
        """``expected`` (or the bounds of a range), when they are expressions."""
        return expected_expressions(self.expected, self.compare, self.literal)

    def evaluate(self, run: RunRecord) -> Verdict:
        """Parse the collected file and compare."""
        try:
            expected = expected_value(self.expected, self.compare, self.literal, run)
        except ExpressionError as exc:
            return Verdict(None, _("bad expected value in the exercise: {error}").format(error=exc))
        data = run.files.get(self.file)
        if data is None:
            return Verdict(
                False, _("{file} does not exist at the end of the run").format(file=self.file)
            )
        try:
            content = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError):
            return Verdict(
                False,
                join(
                    [
                        _("{file} is not valid JSON at the end of the run").format(file=self.file),
                        shown_file(self.file, data),
                    ]
                ),
            )
        try:
            actual = _dig(content, self.path)
        except (KeyError, IndexError, TypeError):
            return Verdict(
                False,
                join(
                    [
                        _("{file} has no “{path}” at the end of the run").format(
                            file=self.file, path=self.path
                        ),
                        shown_file(self.file, data),
                    ]
                ),
            )
        try:
            ok = compare(self.compare, actual, expected)
        except TypeError:
            ok = False
        if ok:
            return Verdict(True)
        if self.path:
            what = _("“{path}” in {file}").format(path=self.path, file=self.file)
        else:
            what = self.file
        said = wrong_value(_FILE_VALUE, what, actual, expected, self.compare)
        return Verdict(False, join([said, shown_file(self.file, data)]))


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the outcome kinds."""
    for model in (ExitCode, Finishes, OutputCount, FinalJson):
        kinds.add(model)
