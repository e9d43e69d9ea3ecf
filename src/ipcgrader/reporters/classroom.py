"""``--format classroom``: the results object GitHub Classroom's autograding reporter reads.

GitHub Classroom's ``autograding-grading-reporter`` action takes, for every runner named in
its ``runners`` input, an environment variable ``<RUNNER>_RESULTS`` holding a base64-encoded
JSON object (a grader step's ``result`` output)::

    {"version": 1, "status": "pass" | "fail" | "error", "max_score": 37,
     "tests": [{"name": ..., "status": "pass" | "fail" | "error", "score": 3,
                "message": ...}, ...]}

Classroom records the sum of the tests' ``score`` out of ``max_score``, so each check is a
test carrying the points it earned: partial credit reaches the gradebook. Checks that are
not visible to students keep their points but neither their name nor their message.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import STUDENT_VISIBLE, CheckResult, ExerciseResult, Status

_STATUS = {Status.passed: "pass", Status.failed: "fail", Status.error: "error"}


def _message(check: CheckResult) -> str:
    if check.status is Status.passed:
        return ""
    lines = []
    if check.status is Status.error:
        lines.append(_("This check could not be made (no points)."))
    if check.message:
        lines.append(check.message)
    if check.hint:
        lines.append(_("Hint: {hint}").format(hint=check.hint))
    return "\n".join(lines)


def _test(number: int, check: CheckResult) -> dict[str, Any]:
    if check.visibility != STUDENT_VISIBLE:
        return {
            "name": _("hidden check {number}").format(number=number),
            "status": _STATUS[check.status],
            "score": check.score,
            "message": "",
        }
    return {
        "name": check.name,
        "status": _STATUS[check.status],
        "score": check.score,
        "message": _message(check),
        "test_code": check.id,
    }


def results_object(result: ExerciseResult) -> dict[str, Any]:
    """The Classroom results object of one grading; its tests' scores sum to the score."""
    tests = [_test(n, check) for n, check in enumerate(result.checks, start=1)]
    if result.exercise_error:
        # the exercise's own code failed: nothing here is about the student's work
        tests = [
            {
                "name": result.exercise,
                "status": "error",
                "score": 0,
                "message": _(
                    "The exercise itself failed, not your code; please tell your instructor: "
                    "{error}"
                ).format(error=result.error or result.exercise_error),
            }
        ]
    elif result.status is Status.error and not result.checks:
        tests = [
            {
                "name": result.exercise,
                "status": "error",
                "score": 0,
                "message": _("The grader failed, please tell your instructor: {error}").format(
                    error=result.error or ""
                ),
            }
        ]
    return {
        "version": 1,
        "status": _STATUS[result.status],
        "max_score": result.max_score,
        "tests": tests,
    }


def encoded(result: ExerciseResult) -> str:
    """The results object as the base64 text the reporter action decodes."""
    text = json.dumps(results_object(result), ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class ClassroomReporter:
    """GitHub Classroom autograding results (JSON; base64 it into a step's ``result``)."""

    name = "classroom"
    description = "GitHub Classroom autograding results object (JSON)"

    def render(self, result: ExerciseResult) -> str:
        """The result as the Classroom results object, pretty JSON."""
        return json.dumps(results_object(result), ensure_ascii=False, indent=2) + "\n"


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the GitHub Classroom reporter."""
    reporters.add(ClassroomReporter())
