"""``--format json``: one object per grading, the stable interface (README, "For
instructors and course CI")."""

from __future__ import annotations

import json
from typing import Any

from ipcgrader import hookimpl
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import ExerciseResult


def result_object(result: ExerciseResult) -> dict[str, Any]:
    """The stable JSON shape of a grading (keys in the README, plus optional extras)."""
    data: dict[str, Any] = {
        "exercise": result.exercise,
        "submission": result.submission,
        "status": result.status.value,
        "score": result.score,
        "max_score": result.max_score,
        "duration_s": result.duration_s,
        "checks": [
            {
                "id": c.id,
                "name": c.name,
                "status": c.status.value,
                "score": c.score,
                "max_score": c.max_score,
                "message": c.message,
                "hint": c.hint,
                "visibility": c.visibility,
                **_extras(c.i18n, scenario=c.scenario, kind=c.kind),
            }
            for c in result.checks
        ],
        "diagnostics": [
            {
                "kind": d.kind,
                "file": d.file,
                "line": d.line,
                "message": d.message,
                "hint": d.hint,
                **_extras(d.i18n, checks=list(d.checks) or None),
            }
            for d in result.diagnostics
        ],
    }
    if result.error:
        data["error"] = result.error
    if result.exercise_error:
        data["exercise_error"] = result.exercise_error
    data.update(_extras(result.i18n))
    return data


def _extras(i18n: dict[str, Any], **optional: Any) -> dict[str, Any]:
    """Keys given only when set: what ``ipcgrade report`` needs to render the result again
    (``i18n``: how each sentence was made, for another language; the findings' checks, for
    what a student may see)."""
    extras = {key: value for key, value in optional.items() if value is not None}
    if i18n:
        extras["i18n"] = i18n
    return extras


def load_result(text: str) -> ExerciseResult:
    """A result from its JSON (this reporter's object or the gradebook's full record).

    Raises ValueError when ``text`` is not a grading result."""
    return ExerciseResult.model_validate_json(text)


class JsonReporter:
    """Machine-readable result for tools and course CI."""

    name = "json"
    description = "one JSON object (the stable interface)"

    def render(self, result: ExerciseResult) -> str:
        """The result as one line... of pretty JSON."""
        return json.dumps(result_object(result), ensure_ascii=False, indent=2) + "\n"


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the JSON reporter."""
    reporters.add(JsonReporter())
