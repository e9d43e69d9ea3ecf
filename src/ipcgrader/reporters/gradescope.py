"""``--format gradescope``: Gradescope's autograder ``results.json``.

The one line of a ``run_autograder`` script (Gradescope puts the student's files in
``/autograder/submission`` and reads ``/autograder/results/results.json``)::

    ipcgrade /autograder/source/exercises/lock_ticket --submission /autograder/submission \\
        --format gradescope --output /autograder/results/results.json

Each check becomes a test with its points, status, visibility and the message and hint as
output; findings in the student's code go in the top-level output.
"""

from __future__ import annotations

import json
from typing import Any

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.reporters.terminal import finding_refs, place
from ipcgrader.results import (
    CheckResult,
    Diagnostic,
    ExerciseResult,
    Status,
    student_diagnostics,
    withheld_diagnostics,
)

_VISIBILITIES = {"visible", "hidden", "after_due_date", "after_published"}


def _finding(d: Diagnostic) -> str:
    where = place(d)
    return _("{place}: {finding}").format(place=where, finding=d.message) if where else d.message


def _test(
    number: int, check: CheckResult, withheld: list[Diagnostic], shown: list[Diagnostic]
) -> dict[str, Any]:
    lines = []
    if check.status is Status.error:
        lines.append(_("This check could not be made (no points)."))
    refs = finding_refs(check, shown) if check.status is not Status.passed else []
    message = check.message
    if any(shown[n - 1].message.strip() in message for n in refs):
        message = ""  # the finding it points at says it, once, in the top-level output
    if message:
        lines.append(message)
    if refs:
        lines.append(
            _("See finding {findings} in the output above.").format(
                findings=", ".join(map(str, refs))
            )
        )
    elif check.hint:
        lines.append(_("Hint: {hint}").format(hint=check.hint))
    # what only non-visible checks found is shown with them, under their visibility
    for d in withheld:
        lines.append(f"- {_finding(d)}")
    tags = [t for t in (check.scenario, check.kind) if t]
    return {
        "name": check.name,
        "number": str(number),
        "score": check.score,
        "max_score": check.max_score,
        # Gradescope knows only passed and failed; "could not check" earned no points
        "status": "passed" if check.status is Status.passed else "failed",
        "visibility": check.visibility if check.visibility in _VISIBILITIES else "visible",
        "output": "\n".join(lines),
        "tags": tags,
        "extra_data": {"id": check.id, "ipcgrader_status": check.status.value},
    }


def results_json(result: ExerciseResult) -> dict[str, Any]:
    """The Gradescope results object of one grading."""
    lines = [
        _("{exercise}: {score}/{max_score} points").format(
            exercise=result.exercise, score=f"{result.score:g}", max_score=f"{result.max_score:g}"
        )
    ]
    if result.exercise_error:
        lines.append(
            _(
                "The exercise itself failed, not your code; please tell your instructor: {error}"
            ).format(error=result.error)
        )
    elif result.status is Status.error:
        lines.append(
            _("The grader failed, please tell your instructor: {error}").format(error=result.error)
        )
    # The top-level output is always visible to the student: only findings that a visible
    # check (or the grader itself) made may go here.
    shown = student_diagnostics(result)
    if shown:
        lines.append("")
        lines.append(_("What we found in your code:"))
        for number, d in enumerate(shown, 1):
            lines.append(f"{number}. {_finding(d)}")
            if d.hint:
                lines.append("   " + _("hint: {hint}").format(hint=d.hint))
    return {
        "score": result.score,
        "execution_time": max(result.duration_s, 0.0),
        "output": "\n".join(lines),
        "output_format": "text",
        "test_output_format": "text",
        "tests": [
            _test(n, check, withheld_diagnostics(result, check.id), shown)
            for n, check in enumerate(result.checks, start=1)
        ],
        "extra_data": {
            "exercise": result.exercise,
            "status": result.status.value,
            "max_score": result.max_score,
        },
    }


class GradescopeReporter:
    """Gradescope autograder results (write it to /autograder/results/results.json)."""

    name = "gradescope"
    description = "Gradescope results.json (use with --output in run_autograder)"

    def render(self, result: ExerciseResult) -> str:
        """The result as Gradescope's results.json text."""
        return json.dumps(results_json(result), ensure_ascii=False, indent=2) + "\n"


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the Gradescope reporter."""
    reporters.add(GradescopeReporter())
