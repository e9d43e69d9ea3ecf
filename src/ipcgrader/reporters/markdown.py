"""``--format markdown``: one grading as Markdown, e.g. for ``$GITHUB_STEP_SUMMARY`` or a
pull-request comment. A pure function of the result, like every reporter."""

from __future__ import annotations

from ipcgrader import hookimpl
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import ExerciseResult, Status

MARKS = {Status.passed: "✅", Status.failed: "❌", Status.error: "⚠️"}


def cell(text: str) -> str:
    """``text`` made safe for one Markdown table cell (no pipes, no line breaks)."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def render_markdown(result: ExerciseResult, heading: str = "###") -> str:
    """The report of one grading; ``heading`` is the level of its title."""
    title = (
        f"{heading} {MARKS[result.status]} {result.exercise}: "
        f"{result.score:g}/{result.max_score:g} points"
    )
    lines = [title, "", f"Submission: `{cell(result.submission)}` ({result.duration_s:.2f} s)", ""]
    if result.exercise_error:
        lines += [f"**{cell(result.error or result.exercise_error)}**", ""]
    elif result.status is Status.error and result.error:
        lines += [f"**The grader failed:** {cell(result.error)}", ""]
    if result.checks:
        lines += ["| | Check | Points | What went wrong |", "|---|---|---:|---|"]
        for check in result.checks:
            why = check.message if check.status is not Status.passed else ""
            if check.hint and check.status is not Status.passed:
                why = f"{why} *Hint: {check.hint}*" if why else f"*Hint: {check.hint}*"
            lines.append(
                f"| {MARKS[check.status]} | {cell(check.name)} | "
                f"{check.score:g}/{check.max_score:g} | {cell(why)} |"
            )
        lines.append("")
    if result.diagnostics:
        lines += ["**What we found in the code:**", ""]
        for d in result.diagnostics:
            where = f"{d.file}:{d.line}" if d.file and d.line else d.file or ""
            where = f"`{where}` " if where else ""
            lines.append(f"- {where}{cell(d.message)}")
            if d.hint:
                lines.append(f"  *Hint: {cell(d.hint)}*")
        lines.append("")
    return "\n".join(lines)


class MarkdownReporter:
    """Markdown with a table of checks (GitHub renders it in step summaries)."""

    name = "markdown"
    description = "Markdown table of checks (CI step summaries, comments)"

    def render(self, result: ExerciseResult) -> str:
        """The result as Markdown."""
        return render_markdown(result)


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the Markdown reporter."""
    reporters.add(MarkdownReporter())
