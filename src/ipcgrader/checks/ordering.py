"""Expectations over what the processes of a run printed, robust to glued lines.

``line_order``: output matching one pattern all comes before output matching the next.
``no_interleave``: the start and end lines of critical sections never interleave.
``output_count``: how many times a pattern was printed.

Output is read as a stream of matches, not as whole lines. The grader runs with
``PYTHONUNBUFFERED=1``, so ``print()`` writes its text and its newline separately, and two
processes printing at the same moment can glue ``p1开始`` and ``p2开始`` onto one line. Each
pattern is therefore searched anywhere in a line (a line may hold several matches), and
matches are ordered by line, then by position in the line. Where the trace gives each line
with the pid that printed it (see :func:`output_lines`), messages name the process too.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from ipcgrader import hookimpl
from ipcgrader.checks.ipc_trace import could_interleave
from ipcgrader.checks.outcome import shown_output
from ipcgrader.expr import ExpressionError, resolve
from ipcgrader.i18n import N_, _, join, ngettext
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import Diagnostic, RunRecord, Verdict
from ipcgrader.trace import trace_of

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True)
class OutputLine:
    """One line of output; ``pid`` is known only when the trace recorded who printed it."""

    number: int
    text: str
    pid: int | None = None


@dataclass(frozen=True)
class Mark:
    """One match of a pattern in the output, in stream order (``line``, then ``column``)."""

    line: OutputLine
    column: int
    text: str
    pattern: int
    name: str | None

    @property
    def position(self) -> tuple[int, int]:
        """Sort key: where in the output stream the match is."""
        return (self.line.number, self.column)

    def describe(self) -> str:
        """``“p1开始打印了” (output line 3)`` for messages (no pid: it differs from run to
        run, and a student cannot find it in their code)."""
        return _("“{text}” (output line {line})").format(text=self.text, line=self.line.number)


def _trace_lines(run: RunRecord, stream: Stream) -> list[OutputLine] | None:
    """Output lines with pids from the trace, if a plugin attached them.

    A plugin may put a list of ``{"pid": int, "text": str}`` (or objects with ``pid`` and
    ``text`` attributes) in ``run.artifacts["output_lines"]`` (stdout) or
    ``run.artifacts["stderr_lines"]``, each a complete line of one process, in the order
    the lines were completed.
    """
    raw = run.artifacts.get("output_lines" if stream == "stdout" else "stderr_lines")
    if not raw:
        return None
    lines = []
    for number, item in enumerate(raw, start=1):
        pid = item.get("pid") if isinstance(item, dict) else getattr(item, "pid", None)
        text = item.get("text") if isinstance(item, dict) else getattr(item, "text", None)
        if not isinstance(text, str):
            return None
        lines.append(OutputLine(number, text, pid if isinstance(pid, int) else None))
    return lines


def output_lines(run: RunRecord, stream: Stream = "stdout") -> list[OutputLine]:
    """The run's output as lines: from the trace when it has them (with pids, and each
    process's text reassembled so nothing is glued), else the captured text."""
    traced = _trace_lines(run, stream)
    if traced is not None:
        return traced
    text = run.outcome.stdout if stream == "stdout" else run.outcome.stderr
    return [OutputLine(n, line) for n, line in enumerate(text.splitlines(), start=1)]


def find_marks(lines: Iterable[OutputLine], patterns: Sequence[re.Pattern[str]]) -> list[Mark]:
    """Every match of every pattern, in stream order. Where two patterns match at the same
    place, the earlier pattern wins; overlapping matches are dropped."""
    marks: list[Mark] = []
    for line in lines:
        found: list[Mark] = []
        for index, regex in enumerate(patterns):
            for match in regex.finditer(line.text):
                name = match.groupdict().get("name")
                found.append(Mark(line, match.start(), match.group(0), index, name))
        found.sort(key=lambda m: (m.column, m.pattern))
        end = -1
        for mark in found:
            if mark.column >= end:  # overlapping matches: the first one found wins
                marks.append(mark)
                end = mark.column + max(len(mark.text), 1)
    return marks


def _compile(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


def output_text(run: RunRecord, stream: Stream) -> list[str]:
    """The lines the program printed on ``stream``, to show with a failure."""
    return (run.outcome.stdout if stream == "stdout" else run.outcome.stderr).splitlines()


def _incomplete(problem: str) -> str:
    return _("the trace of this run is incomplete: {problem}").format(problem=problem)


def _glued(*marks: Mark) -> str:
    lines = {m.line.number for m in marks}
    if len(lines) < len(marks):
        return _(" (printed onto one line: the processes were writing at the same moment)")
    return ""


class LineOrder(Expectation):
    """Output matching each pattern comes after all output matching the previous one.

    Give ``before`` and ``after``, or a ``sequence`` of two or more patterns. Every pattern
    must match at least once. Example: ``before = "is gone"``, ``after = "主进程"``. When the
    run was traced, the order must also be guaranteed: each earlier line happens before each
    later one (printed by the same process, or ordered by start/join), not just by luck.
    """

    kind: Literal["line_order"]
    before: str | None = Field(None, description="regex of the lines that must come first")
    after: str | None = Field(None, description="regex of the lines that must come later")
    sequence: list[str] | None = Field(None, description="regexes, in their required order")
    occurrence: Literal["all", "first", "last"] = Field(
        "all",
        description="which lines of each pattern are ordered: all (every earlier line before "
        "every later one), first (each pattern's first line) or last (each pattern's last "
        "line), for programs that print a pattern more than once",
    )
    stream: Stream = "stdout"
    default_name: ClassVar[str] = N_("output order")

    @field_validator("before", "after")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        return None if value is None else _compile(value)

    @field_validator("sequence")
    @classmethod
    def _regexes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_compile(v) for v in value]

    @model_validator(mode="after")
    def _one_form(self) -> LineOrder:
        pair = self.before is not None or self.after is not None
        if pair == (self.sequence is not None):
            raise ValueError("give either before and after, or sequence")
        if pair and (self.before is None or self.after is None):
            raise ValueError("before and after go together")
        if self.sequence is not None and len(self.sequence) < 2:
            raise ValueError("sequence needs at least two patterns")
        return self

    def patterns(self) -> list[str]:
        """The patterns in their required order."""
        if self.sequence is not None:
            return list(self.sequence)
        return [self.before or "", self.after or ""]

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail at the first pattern whose first match precedes the previous one's last."""
        sources = self.patterns()
        regexes = [re.compile(p) for p in sources]
        marks = find_marks(output_lines(run, self.stream), regexes)
        by_pattern: list[list[Mark]] = [[] for _ in sources]
        for mark in marks:
            by_pattern[mark.pattern].append(mark)
        for source, found in zip(sources, by_pattern, strict=True):
            if not found:
                return Verdict(
                    False,
                    join(
                        [
                            _("nothing printed matches “{pattern}”").format(pattern=source),
                            shown_output(output_text(run, self.stream), self.stream),
                        ]
                    ),
                )
        if self.occurrence != "all":
            pick = min if self.occurrence == "first" else max
            by_pattern = [[pick(found, key=lambda m: m.position)] for found in by_pattern]
        for earlier, later in itertools.pairwise(by_pattern):
            last = max(earlier, key=lambda m: m.position)
            first = min(later, key=lambda m: m.position)
            if first.position < last.position:
                return Verdict(
                    False,
                    _("{first} came before {last}{glued}").format(
                        first=first.describe(), last=last.describe(), glued=_glued(first, last)
                    ),
                )
        return self._guaranteed(run, regexes)

    def _guaranteed(self, run: RunRecord, regexes: list[re.Pattern[str]]) -> Verdict:
        """The right order in one run proves nothing if it was luck: with a trace, every
        earlier line must happen before every later one (same process, or start/join)."""
        trace = trace_of(run)
        if trace is None:
            return Verdict(True)
        printed = trace.output(self.stream)
        groups = [[e for e in printed if r.search(str(e.get("text", "")))] for r in regexes]
        if self.occurrence != "all":
            index = 0 if self.occurrence == "first" else -1
            groups = [group[index:][:1] if group else group for group in groups]
        unordered = [
            (str(a.get("text", "")), str(b.get("text", "")), a, b)
            for earlier, later in itertools.pairwise(groups)
            for b in earlier
            for a in later
            if not trace.happens_before(b, a)
        ]
        if unordered:
            after_text, before_text, after, before = min(unordered, key=lambda u: u[:2])
            found = Diagnostic(
                kind="unordered_output",
                file=after.file,
                line=after.line,
                message=_(
                    "“{after}” ({after_place}) came after “{before}” ({before_place}) in this "
                    "run, but nothing makes it wait for that line: no join() orders the two "
                    "processes, so in another run it can come first"
                ).format(
                    after=after_text,
                    after_place=after.where or _("outside your files"),
                    before=before_text,
                    before_place=before.where or _("outside your files"),
                ),
                hint=_(
                    "join() the process that prints the earlier line before printing the later one."
                ),
            )
            return Verdict(False, found.message, [found])
        if not trace.complete:
            return Verdict(None, _incomplete(trace.problems[0]))
        return Verdict(True)


class NoInterleave(Expectation):
    """Each start line is followed by its own end line before any other start line.

    If the patterns have a group named ``name`` (``(?P<name>p\\d)开始打印了``), an end line
    must carry the same name as the start it closes; without it, and with pids from the
    trace, the same process must print both. When the run was traced, clean output is not
    enough: two workers' sections that no start/join orders and no shared lock covers
    could interleave in another run, and fail the check in this one.
    """

    kind: Literal["no_interleave"]
    start: str = Field(description="regex of a section's first line")
    end: str = Field(description="regex of a section's last line")
    sections: int | str | None = Field(
        None, description="how many sections there must be (a number or an expression)"
    )
    stream: Stream = "stdout"
    default_name: ClassVar[str] = N_("sections do not interleave")

    def expressions(self) -> list[tuple[str, str]]:
        """``sections``, when it is an expression."""
        return [("sections", self.sections)] if isinstance(self.sections, str) else []

    @field_validator("start", "end")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compile(value)

    def _owner(self, mark: Mark) -> Any:
        return mark.name if mark.name is not None else mark.line.pid

    def evaluate(self, run: RunRecord) -> Verdict:
        """Walk the start and end marks in stream order; at most one section is open."""
        try:
            wanted = None if self.sections is None else resolve(self.sections, run.names())
        except ExpressionError as exc:
            return Verdict(None, _("bad sections value in the exercise: {error}").format(error=exc))
        regexes = [re.compile(self.start), re.compile(self.end)]
        marks = find_marks(output_lines(run, self.stream), regexes)
        open_mark: Mark | None = None
        closed = 0
        for mark in marks:
            if mark.pattern == 0:
                if open_mark is not None:
                    return Verdict(
                        False,
                        _(
                            "{line} was printed while the section started by {opened} was "
                            "still going (its end line had not come yet){glued}"
                        ).format(
                            line=mark.describe(),
                            opened=open_mark.describe(),
                            glued=_glued(mark, open_mark),
                        ),
                    )
                open_mark = mark
                continue
            if open_mark is None:
                return Verdict(
                    False,
                    _("{line} ends a section that never started").format(line=mark.describe()),
                )
            owner, opener = self._owner(mark), self._owner(open_mark)
            if owner is not None and opener is not None and owner != opener:
                return Verdict(
                    False,
                    _(
                        "{line} was printed while the section started by {opened} was still "
                        "going{glued}"
                    ).format(
                        line=mark.describe(),
                        opened=open_mark.describe(),
                        glued=_glued(mark, open_mark),
                    ),
                )
            open_mark = None
            closed += 1
        if open_mark is not None:
            return Verdict(
                False,
                _("{line} was never followed by its end line").format(line=open_mark.describe()),
            )
        if wanted is not None and closed != wanted:
            return Verdict(
                False,
                ngettext(
                    "expected {wanted} complete start/end section, found {closed}",
                    "expected {wanted} complete start/end sections, found {closed}",
                    int(wanted),
                ).format(wanted=wanted, closed=closed),
            )
        if closed == 0:
            return Verdict(
                False,
                join(
                    [
                        _("nothing printed matches “{pattern}”").format(pattern=self.start),
                        shown_output(output_text(run, self.stream), self.stream),
                    ]
                ),
            )
        return self._could_interleave(run)

    def _could_interleave(self, run: RunRecord) -> Verdict:
        """Clean output proves nothing if the processes merely did not overlap this time:
        with a trace, fail when two sections could still interleave."""
        trace = trace_of(run)
        if trace is None:
            return Verdict(True)
        found = could_interleave(trace, self.start, self.end)
        if found is not None:
            message = _("no lines interleaved in this run, but they can: {finding}").format(
                finding=found.message
            )
            return Verdict(False, message, [found])
        if not trace.complete:
            return Verdict(None, _incomplete(trace.problems[0]))
        return Verdict(True)


class MatchCount(Expectation):
    """How many times ``pattern`` occurs in the output, counted as matches, not lines.

    Unlike ``stdout_count``, two messages glued onto one line by concurrent processes
    count twice, so use this where several processes print at the same time.
    """

    kind: Literal["output_count"]
    pattern: str
    expected: int | str = Field(description="a number or an expression of the parameters")
    compare: Literal["eq", "ge", "le"] = "eq"
    stream: Stream = "stdout"
    default_name: ClassVar[str] = N_("output count")

    def expressions(self) -> list[tuple[str, str]]:
        """``expected``, when it is an expression."""
        return [("expected", self.expected)] if isinstance(self.expected, str) else []

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        return _compile(value)

    def evaluate(self, run: RunRecord) -> Verdict:
        """Count the matches and compare."""
        try:
            expected = resolve(self.expected, run.names())
        except ExpressionError as exc:
            return Verdict(None, _("bad expected value in the exercise: {error}").format(error=exc))
        count = len(find_marks(output_lines(run, self.stream), [re.compile(self.pattern)]))
        ok = {"eq": count == expected, "ge": count >= expected, "le": count <= expected}
        if ok[self.compare]:
            return Verdict(True)
        said = {
            "eq": _("expected “{pattern}” exactly {expected} times, printed {count}"),
            "ge": _("expected “{pattern}” at least {expected} times, printed {count}"),
            "le": _("expected “{pattern}” at most {expected} times, printed {count}"),
        }[self.compare].format(pattern=self.pattern, expected=expected, count=count)
        return Verdict(
            False, join([said, shown_output(output_text(run, self.stream), self.stream)])
        )


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the output-ordering kinds."""
    for model in (LineOrder, NoInterleave, MatchCount):
        kinds.add(model)
