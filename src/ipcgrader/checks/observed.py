"""``json_value``: judge what an exercise's driver observed and wrote to a JSON file.

A driver (``driver = "drivers/x.py"``) can call the student's functions and write what it
saw (return values, elapsed times, the order of ``start``/``join`` calls, what came out of a
queue) to a JSON object in the run's folder; the scenario lists the file in ``collect``.
This kind evaluates an expression over that object's top-level keys and the scenario's
parameters and compares it with an expected value. ``explain`` turns a failure into a
precise message: the first entry whose ``when`` holds on the observations is shown.

Drivers should write the file as they go (write a new file and rename it over the old
one), so that with ``judge_incomplete = true`` a run that hung or crashed is still judged
on what was seen before it stopped.
"""

from __future__ import annotations

import json
import math
import operator
import re
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ipcgrader import hookimpl
from ipcgrader.expr import ExpressionError, evaluate, resolve
from ipcgrader.i18n import N_, Text, _
from ipcgrader.models import Expectation, LocalText, Strict
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import RunRecord, Verdict, stopped_verdict

Compare = Literal["eq", "ne", "lt", "le", "gt", "ge", "between", "approx"]
_WORDS = {
    "eq": N_("{value}"),
    "ne": N_("anything but {value}"),
    "lt": N_("less than {value}"),
    "le": N_("at most {value}"),
    "gt": N_("more than {value}"),
    "ge": N_("at least {value}"),
}
_ORDER = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SHOWN = 160


class Explanation(Strict):
    """A precise failure message, shown when ``when`` holds on the observations."""

    when: str = Field(description="expression over the observations and parameters")
    message: LocalText = Field(description="shown instead of the generic detail; {key} is replaced")


def shown(value: Any) -> str:
    """A value as a student reads it in a message, cut when long."""
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def fill(template: str, names: dict[str, Any]) -> str:
    """Replace ``{key}`` by the observed value of ``key``; unknown keys stay as they are."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in names:
            return match.group(0)
        value = names[key]
        return value if isinstance(value, str) else shown(value)

    filled = _FIELD.sub(one, template)
    if isinstance(template, Text):
        # the exercise's text given per language: fill it the same way in each
        used = {k: v if isinstance(v, str) else shown(v) for k, v in names.items()}
        keys = set(_FIELD.findall(template))
        return Text(filled, {**template.source, "fill": {k: used[k] for k in keys if k in used}})
    return filled


def load_observations(run: RunRecord, file: str) -> dict[str, Any] | None:
    """The JSON object a driver left in ``file``, or None if there is none (or not valid)."""
    data = run.files.get(file)
    if data is None:
        return None
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def compare(op: Compare, actual: Any, expected: Any, tolerance: float = 0.0) -> bool:
    """``actual <op> expected``; ``between`` takes ``[low, high]``, both included."""
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if op == "between":
        low, high = expected
        return bool(low <= actual <= high)
    if op == "approx":
        return math.isfinite(actual) and abs(actual - expected) <= tolerance
    return bool(_ORDER[op](actual, expected))


class JsonValue(Expectation):
    """An expression over a driver's observations compares to an expected value.

    Example: ``file = "observed.json"``, ``value = "received"``,
    ``expected = "range(count)"``, with ``explain`` entries such as
    ``{ when = "stop == 'empty'", message = "drain() stopped when q.empty() was True" }``.
    """

    kind: Literal["json_value"]
    file: str = Field(description="JSON object the driver wrote (list it in collect)")
    value: str = Field(description="expression over the file's top-level keys and params")
    compare: Compare = "eq"
    expected: Any = Field(True, description="value, expression, or [low, high] for between")
    tolerance: float | str = Field(0.0, description="allowed difference for approx")
    literal: bool = Field(False, description="take a string `expected` as a plain string")
    explain: list[Explanation] = Field(default_factory=list)
    judge_incomplete: bool = Field(
        False,
        description="judge the observations even when the run hung or crashed (drivers "
        "that write as they go leave what they saw before it stopped)",
    )
    default_name: ClassVar[str] = N_("observed value")
    needs_complete_run: ClassVar[bool] = False  # decided in evaluate, see judge_incomplete
    open_names: ClassVar[bool] = True  # the observations' keys are known only after a run

    def expressions(self) -> list[tuple[str, str]]:
        """``value``, ``expected``, ``tolerance`` and every ``explain[].when``."""
        found = [("value", self.value)]
        if not self.literal:
            if isinstance(self.expected, list) and self.compare == "between":
                found += [
                    (f"expected[{i}]", v) for i, v in enumerate(self.expected) if isinstance(v, str)
                ]
            elif isinstance(self.expected, str):
                found.append(("expected", self.expected))
        if isinstance(self.tolerance, str):
            found.append(("tolerance", self.tolerance))
        found += [(f"explain[{i}].when", e.when) for i, e in enumerate(self.explain)]
        return found

    @model_validator(mode="after")
    def _between_pair(self) -> JsonValue:
        if self.compare == "between" and not (
            isinstance(self.expected, list) and len(self.expected) == 2
        ):
            raise ValueError("compare = 'between' needs expected = [low, high]")
        return self

    def _expected(self, names: dict[str, Any]) -> Any:
        if self.literal:
            return self.expected
        if isinstance(self.expected, list) and self.compare == "between":
            return [resolve(bound, names) for bound in self.expected]
        return resolve(self.expected, names)

    def _explanation(self, names: dict[str, Any]) -> str | None:
        for entry in self.explain:
            try:
                holds = evaluate(entry.when, names)
            except ExpressionError:
                continue  # an observation it needs is absent in this run
            if holds:
                return fill(entry.message, names)
        return None

    def pass_holds_when_stopped(self) -> bool:
        """With ``judge_incomplete``, the author says the driver's observations hold on a
        run stopped part-way."""
        return self.judge_incomplete

    def evaluate(self, run: RunRecord) -> Verdict:
        """Load the observations, evaluate ``value`` and compare; explain a failure."""
        problem = run.problem()
        if problem is not None and not self.judge_incomplete:
            return stopped_verdict(problem)
        observed = load_observations(run, self.file)
        if observed is None:
            if problem is not None:
                return stopped_verdict(problem)
            return Verdict(
                None, _("the driver left no JSON object in {file}").format(file=self.file)
            )
        names = {**run.names(), **observed}
        try:
            expected = self._expected(names)
            tolerance = float(resolve(self.tolerance, names))
        except (ExpressionError, TypeError, ValueError) as exc:
            return Verdict(None, _("bad expected value in the exercise: {error}").format(error=exc))
        try:
            actual = evaluate(self.value, names)
        except ExpressionError as exc:
            if problem is not None:
                explained = self._explanation(names)
                return Verdict(False, explained) if explained else stopped_verdict(problem)
            return Verdict(
                None,
                _("cannot compute {value!r} from {file}: {error}").format(
                    value=self.value, file=self.file, error=exc
                ),
            )
        try:
            ok = compare(self.compare, actual, expected, tolerance)
        except TypeError:
            ok = False
        if ok:
            return Verdict(True)
        detail = self._explanation(names)
        if detail is None and self.message:
            # the exercise's message says what went wrong: the observations' raw values
            # (JSON words, variable names) are no sentence for a student
            detail = _("the program {problem}").format(problem=problem) if problem else ""
        elif detail is None:
            if self.compare == "between":
                want = _("between {low} and {high}").format(
                    low=shown(expected[0]), high=shown(expected[1])
                )
            elif self.compare == "approx":
                want = f"{shown(expected)} ± {tolerance:g}"
            else:
                want = _(_WORDS[self.compare]).format(value=shown(expected))
            # TRANSLATORS: {value} is the name of what an exercise's driver observed
            # ("received", "pattern"); {actual} and {expected} are values
            detail = _(
                "what the grader observed of your code ({value}) was {actual}, but it should "
                "be {expected}"
            ).format(value=self.value, actual=shown(actual), expected=want)
            if problem is not None:
                detail = _("{detail}; the program {problem}").format(detail=detail, problem=problem)
        return Verdict(False, detail)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the observation kind."""
    kinds.add(JsonValue)
