"""The human report: one line per check, failures explained, diagnostics, a total."""

from __future__ import annotations

import textwrap

from ipcgrader import hookimpl
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import CheckResult, ExerciseResult, Status

_MARKS = {Status.passed: "✓", Status.failed: "✗", Status.error: "?"}
_COLORS = {Status.passed: "32", Status.failed: "31", Status.error: "33"}


def _points(value: float) -> str:
    return f"{value:g}"


class TerminalReporter:
    """Readable text for a student at a terminal (colour when asked)."""

    name = "terminal"
    description = "human-readable report (default)"

    def __init__(self, color: bool = False) -> None:
        self.color = color

    def _paint(self, status: Status, text: str) -> str:
        return f"\x1b[{_COLORS[status]}m{text}\x1b[0m" if self.color else text

    def _check(self, check: CheckResult) -> list[str]:
        mark = self._paint(check.status, _MARKS[check.status])
        points = f"{_points(check.score)}/{_points(check.max_score)}"
        lines = [f"{mark} {check.name}  [{points}]"]
        if check.status is not Status.passed:
            wrap = textwrap.TextWrapper(width=96, initial_indent="    ", subsequent_indent="    ")
            lines.extend(wrap.wrap(check.message) if check.message else [])
            if check.hint:
                hint = textwrap.TextWrapper(
                    width=96, initial_indent="    hint: ", subsequent_indent="          "
                )
                lines.extend(hint.wrap(check.hint))
        return lines

    def render(self, result: ExerciseResult) -> str:
        """The whole report as text."""
        lines = [f"{result.exercise}: {result.submission}"]
        if result.status is Status.error and result.error:
            text = result.error if result.exercise_error else f"grader error: {result.error}"
            lines.append(self._paint(Status.error, text))
            return "\n".join(lines) + "\n"
        for check in result.checks:
            lines.extend(self._check(check))
        if result.diagnostics:
            lines.append("")
            lines.append("What we found in your code:")
            for diagnostic in result.diagnostics:
                where = diagnostic.file or ""
                if diagnostic.line:
                    where += f":{diagnostic.line}"
                prefix = f"  {where}: " if where else "  "
                lines.append(f"{prefix}{diagnostic.message}")
                if diagnostic.hint:
                    lines.append(f"      hint: {diagnostic.hint}")
        passed = sum(1 for c in result.checks if c.status is Status.passed)
        total = (
            f"{_points(result.score)}/{_points(result.max_score)} points, "
            f"{passed}/{len(result.checks)} checks passed in {result.duration_s:.2f} s"
        )
        lines.append("")
        lines.append(self._paint(result.status, f"{result.status.value.upper()}: {total}"))
        return "\n".join(lines) + "\n"


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the terminal reporter."""
    reporters.add(TerminalReporter())
