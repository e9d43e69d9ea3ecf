"""The human report: the checks of each scenario, one line each with its points; the
findings, each written once with its place and hint; a total.

A failed check that a finding explains points at it ("see 1") instead of repeating it; a
failure nothing else explains says what happened (the lines printed, a file's content).
Lines are wrapped by display width (CJK takes two columns) to fit :attr:`columns`.
"""

from __future__ import annotations

from itertools import groupby

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status
from ipcgrader.textwidth import pad, width, wrap

_MARKS = {Status.passed: "✓", Status.failed: "✗", Status.error: "?"}
_COLORS = {Status.passed: "32", Status.failed: "31", Status.error: "33"}
#: Width of the report: a standard terminal.
COLUMNS = 80


def _points(value: float) -> str:
    return f"{value:g}"


def place(diagnostic: Diagnostic) -> str:
    """Where a finding is, in words ("ticket.py, line 29")."""
    if diagnostic.file and diagnostic.line:
        return _("{file}, line {line}").format(file=diagnostic.file, line=diagnostic.line)
    return diagnostic.file or ""


def finding_refs(check: CheckResult, findings: list[Diagnostic]) -> list[int]:
    """Numbers (from 1) of the findings that explain ``check``: those its verdicts produced,
    and a finding of the grader's own (a syntax error, a crash) that its message quotes."""
    return [
        n
        for n, d in enumerate(findings, 1)
        if check.id in d.checks or (not d.checks and d.message and d.message in check.message)
    ]


class TerminalReporter:
    """Readable text for a student at a terminal (colour when asked)."""

    name = "terminal"
    description = "human-readable report (default)"

    def __init__(self, color: bool = False, columns: int = COLUMNS) -> None:
        self.color = color
        self.columns = columns

    def _paint(self, status: Status, text: str) -> str:
        return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if self.color else text

    def _paragraphs(self, text: str, indent: str) -> list[str]:
        """``text`` wrapped, each of its own lines kept (an excerpt of output stays one
        line per printed line)."""
        lines: list[str] = []
        for line in text.splitlines():
            inner = line[: len(line) - len(line.lstrip(" "))]
            lines.extend(wrap(line.strip(), self.columns, indent + inner))
        return lines

    def _check(
        self,
        check: CheckResult,
        grouped: bool,
        findings: list[Diagnostic],
        before: str | None,
    ) -> list[str]:
        refs = finding_refs(check, findings)
        mark = self._paint(check.status, _MARKS[check.status])
        points = f"[{_points(check.score)}/{_points(check.max_score)}]"
        title = (check.title if grouped else None) or check.name
        indent = "  " if grouped else ""
        if refs and check.status is not Status.passed:
            see = _("(see {findings})").format(findings=", ".join(map(str, refs)))
            title = f"{title}  {see}"
        head = wrap(title, self.columns - width(points) - 2, f"{indent}{mark} ")
        last = head[-1]
        head[-1] = pad(last, max(width(last) + 2, self.columns - width(points))) + points
        lines = head
        if check.status is Status.passed:
            return lines
        body = indent + "    "
        message = check.message.strip()
        if any(findings[n - 1].message.strip() in message for n in refs):
            return lines  # the finding it points at says it
        if message and message == before:
            # the same words as the check just above: said once; a message that only
            # appeared somewhere earlier is said again (a reader cannot look it up)
            lines.extend(wrap(_("(as above)"), self.columns, body))
            return lines
        if message:
            lines.extend(self._paragraphs(message, body))
        if check.hint and not refs:
            label = _("hint: ")
            lines.extend(wrap(check.hint, self.columns, body + label))
        return lines

    @staticmethod
    def _said(check: CheckResult, findings: list[Diagnostic]) -> str | None:
        """The message :meth:`_check` wrote under ``check`` (directly or as "(as above)"),
        None when it wrote none."""
        if check.status is Status.passed:
            return None
        message = check.message.strip()
        refs = finding_refs(check, findings)
        if not message or any(findings[n - 1].message.strip() in message for n in refs):
            return None
        return message

    def _finding(self, number: int, diagnostic: Diagnostic) -> list[str]:
        where = place(diagnostic)
        first = f"  {number}. "
        rest = " " * width(first)
        message = diagnostic.message
        text = _("{place}: {finding}").format(place=where, finding=message) if where else message
        lines: list[str] = []
        for index, paragraph in enumerate(text.splitlines() or [""]):
            lines.extend(wrap(paragraph, self.columns, first if index == 0 else rest, rest))
        if diagnostic.hint:
            label = _("hint: ")
            lines.extend(wrap(diagnostic.hint, self.columns, rest + label))
        return lines

    def render(self, result: ExerciseResult) -> str:
        """The whole report as text."""
        lines = [f"{result.exercise}: {result.submission}"]
        if result.status is Status.error and result.error:
            if result.exercise_error:
                text = result.error
            else:
                text = _("The grader failed: {error}").format(error=result.error)
            lines.extend(self._paint(Status.error, line) for line in wrap(text, self.columns))
            return "\n".join(lines) + "\n"
        findings = list(result.diagnostics)
        for (_scenario, words), checks in groupby(
            result.checks, key=lambda c: (c.scenario, c.scenario_name)
        ):
            grouped = words is not None
            if grouped:
                lines.append("")
                lines.extend(wrap(words or "", self.columns))
            before: str | None = None  # the message of the check just above, if it was said
            for check in checks:
                lines.extend(self._check(check, grouped, findings, before))
                before = self._said(check, findings)
        if findings:
            lines.append("")
            lines.append(_("What we found in your code:"))
            for number, diagnostic in enumerate(findings, 1):
                lines.extend(self._finding(number, diagnostic))
        passed = sum(1 for c in result.checks if c.status is Status.passed)
        word = {
            Status.passed: _("PASSED"),
            Status.failed: _("FAILED"),
            Status.error: _("ERROR"),
        }[result.status]
        total = _(
            "{status}: {score}/{max_score} points, {passed}/{checks} checks passed "
            "in {seconds:.2f} s"
        ).format(
            status=word,
            score=_points(result.score),
            max_score=_points(result.max_score),
            passed=passed,
            checks=len(result.checks),
            seconds=result.duration_s,
        )
        lines.append("")
        lines.extend(self._paint(result.status, line) for line in wrap(total, self.columns))
        return "\n".join(lines) + "\n"


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the terminal reporter."""
    reporters.add(TerminalReporter())
