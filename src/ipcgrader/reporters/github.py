"""``--format github``: GitHub Actions workflow commands, so findings show on the student's
own lines of the commit and the grade on the run's page.

* one ``::error file=…,line=…,title=…::message`` per finding a student may see (what only
  hidden checks found stays hidden: :func:`ipcgrader.results.student_diagnostics`), the
  file given relative to the repository root (``$GITHUB_WORKSPACE``, else the current
  folder), as GitHub expects;
* one ``::notice`` with the total;
* the Markdown report of the student's view appended to ``$GITHUB_STEP_SUMMARY`` when that
  variable is set (the only output that is not printed).

Workflow-command data is escaped (``%``, CR and LF; in properties also ``:`` and ``,``) so
a student's file name or message can neither end a command early nor start another one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from ipcgrader import hookimpl
from ipcgrader.i18n import _, ngettext
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.reporters.markdown import render_markdown
from ipcgrader.results import (
    STUDENT_VISIBLE,
    Diagnostic,
    ExerciseResult,
    Status,
    student_diagnostics,
    student_view,
)

SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
WORKSPACE_ENV = "GITHUB_WORKSPACE"


def escape_data(text: str) -> str:
    """``text`` as the message of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """``text`` as a property value (``file=``, ``title=``) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str, **properties: str | int | None) -> str:
    """One workflow command line, e.g. ``::error file=a.py,line=3::text``."""
    given = [
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None
    ]
    head = f"::{name} {','.join(given)}" if given else f"::{name}"
    return f"{head}::{escape_data(message)}"


def student_file(submission: str, file: str, exercise: str) -> Path:
    """Where the finding's ``file`` (named as the exercise calls it) is in the submission:
    the submission itself when it is one file, else the file at its top or in the folder
    named after the exercise (as the grader looked for it)."""
    path = Path(submission)
    if path.is_file():
        return path
    for candidate in (path / file, path / exercise / file):
        if candidate.is_file():
            return candidate
    return path / file


def repository_path(path: Path, environ: Mapping[str, str] | None = None) -> str:
    """``path`` relative to the repository root, when it is inside it."""
    env = os.environ if environ is None else environ
    root = Path(env.get(WORKSPACE_ENV) or os.getcwd()).resolve()
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def annotation(result: ExerciseResult, finding: Diagnostic) -> str:
    """The ``::error`` command of one finding, at the student's file and line."""
    message = finding.message
    if finding.hint:
        message += "\n" + _("Hint: {hint}").format(hint=finding.hint)
    # titled by the check that made the finding (what the student reads in the summary);
    # the finding's kind only when no visible check made it
    checks = {c.id: c for c in result.checks if c.visibility == STUDENT_VISIBLE}
    made_by = next((checks[c] for c in finding.checks if c in checks), None)
    title = _("{exercise}: {kind}").format(
        exercise=result.exercise, kind=made_by.name if made_by else finding.kind
    )
    file = None
    if finding.file:
        where = student_file(result.submission, finding.file, result.exercise)
        file = repository_path(where)
    return command("error", message, file=file, line=finding.line, title=title)


def total_line(result: ExerciseResult) -> str:
    """The ``::notice`` with the grade."""
    if result.exercise_error:
        text = _(
            "The exercise itself failed, not your code; please tell your instructor: {error}"
        ).format(error=result.error or result.exercise_error)
        return command("error", text, title=result.exercise)
    if result.status is Status.error:
        text = _("The grader failed, please tell your instructor: {error}").format(
            error=result.error or ""
        )
        return command(
            "error", text, title=_("{exercise}: grader error").format(exercise=result.exercise)
        )
    failed = sum(1 for c in result.checks if c.status is not Status.passed)
    text = ngettext(
        "{score}/{max_score} points; {failed} check of {total} not passed",
        "{score}/{max_score} points; {failed} checks of {total} not passed",
        failed,
    ).format(
        score=f"{result.score:g}",
        max_score=f"{result.max_score:g}",
        failed=failed,
        total=len(result.checks),
    )
    return command("notice", text, title=result.exercise)


def workflow_commands(result: ExerciseResult) -> str:
    """Every workflow command of one grading, one per line."""
    lines = [annotation(result, d) for d in student_diagnostics(result)]
    lines.append(total_line(result))
    return "\n".join(lines) + "\n"


class GitHubReporter:
    """GitHub Actions annotations, a notice with the total and the job summary."""

    name = "github"
    description = "GitHub Actions annotations at the student's lines, plus the job summary"

    def render(self, result: ExerciseResult) -> str:
        """The workflow commands; also appends the Markdown report to the job summary
        file when ``$GITHUB_STEP_SUMMARY`` is set."""
        summary = os.environ.get(SUMMARY_ENV)
        if summary:
            with open(summary, "a", encoding="utf-8") as handle:
                handle.write(render_markdown(student_view(result)) + "\n")
        return workflow_commands(result)


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the GitHub Actions reporter."""
    reporters.add(GitHubReporter())
