"""``--format markdown``: one grading as Markdown, e.g. for ``$GITHUB_STEP_SUMMARY`` or a
pull-request comment. A pure function of the result, like every reporter."""

from __future__ import annotations

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.reporters.terminal import finding_refs, place
from ipcgrader.results import ExerciseResult, Status

MARKS = {Status.passed: "✅", Status.failed: "❌", Status.error: "⚠️"}


def cell(text: str) -> str:
    """``text`` made safe for one Markdown table cell (no pipes, no line breaks)."""
    return " ".join(text.replace("\\", "\\\\").replace("|", "\\|").split())


def _lines_cell(text: str) -> str:
    """A multi-line text (a message with the lines a program printed) in one table cell:
    each line kept, joined by ``<br>``."""
    return "<br>".join(cell(line) for line in text.splitlines() if line.strip())


def render_markdown(result: ExerciseResult, heading: str = "###") -> str:
    """The report of one grading; ``heading`` is the level of its title. Like the terminal
    report: each finding written once, under the table, and a check it explains points at
    it."""
    title = _("{heading} {mark} {exercise}: {score}/{max_score} points").format(
        heading=heading,
        mark=MARKS[result.status],
        exercise=result.exercise,
        score=f"{result.score:g}",
        max_score=f"{result.max_score:g}",
    )
    lines = [
        title,
        "",
        _("Submission: `{submission}` ({seconds:.2f} s)").format(
            submission=cell(result.submission), seconds=result.duration_s
        ),
        "",
    ]
    if result.exercise_error:
        lines += [f"**{cell(result.error or result.exercise_error)}**", ""]
    elif result.status is Status.error and result.error:
        lines += [_("**The grader failed:** {error}").format(error=cell(result.error)), ""]
    findings = list(result.diagnostics)
    if result.checks:
        lines += [
            _("| | Check | Points | What went wrong |"),
            "|---|---|---:|---|",
        ]
        for check in result.checks:
            why = ""
            if check.status is not Status.passed:
                refs = finding_refs(check, findings)
                message = check.message.strip()
                if any(findings[n - 1].message.strip() in message for n in refs):
                    message = ""
                parts = [_lines_cell(message)] if message else []
                if refs:
                    parts.append(
                        _("see finding {findings}").format(findings=", ".join(map(str, refs)))
                    )
                elif check.hint:
                    parts.append(_("*Hint: {hint}*").format(hint=cell(check.hint)))
                why = "<br>".join(parts)
            name = check.name
            if check.scenario_name and check.title:
                name = _("{scenario}: {check}").format(
                    scenario=check.scenario_name, check=check.title
                )
            lines.append(
                f"| {MARKS[check.status]} | {cell(name)} | "
                f"{check.score:g}/{check.max_score:g} | {why} |"
            )
        lines.append("")
    if findings:
        lines += [_("**What we found in the code:**"), ""]
        for number, d in enumerate(findings, 1):
            where = place(d)
            where = f"`{where}`: " if where else ""
            lines.append(f"{number}. {where}{cell(d.message)}")
            if d.hint:
                lines.append("   " + _("*Hint: {hint}*").format(hint=cell(d.hint)))
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
