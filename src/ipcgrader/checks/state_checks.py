"""``final_state``: what a ``multiprocessing.Value``, an ``Array`` element, a
``Manager().dict()`` entry or a ``Manager().Value`` holds when the run is over.

It is to shared state what ``final_json`` is to a shared file. Memory shared between
processes is gone when the run ends, so the value is taken from the trace: the harness
records what every read returned and every write stored, and the object's last access is
what it held at the end (``ipcgrader.trace.analyses.last_accesses``). Under a lock those
accesses are ordered as they happened; two unlocked writes at the same moment are a race
that ``no_race`` reports, and which of them landed last is then the trace's clock's word.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from ipcgrader import hookimpl
from ipcgrader.checks.explain import state_name
from ipcgrader.checks.observed import compare
from ipcgrader.checks.outcome import (
    check_between,
    expected_expressions,
    expected_value,
    wrong_value,
)
from ipcgrader.checks.trace_checks import TraceExpectation
from ipcgrader.expr import ExpressionError
from ipcgrader.i18n import N_, _
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import RunRecord, Verdict
from ipcgrader.trace import Trace
from ipcgrader.trace.analyses import last_accesses, state_key

StateKind = Literal["Value", "Array", "Manager.dict", "Manager.Value"]
_KEYED = ("Array", "Manager.dict")
_STATE_VALUE = (
    N_("{what} holds {actual} at the end, expected {expected}"),
    N_("{what} holds {actual} at the end, expected between {low} and {high}"),
    N_("{what} holds {actual} at the end, expected {relation} {expected}"),
)


class FinalState(TraceExpectation):
    """The value shared state holds at the end of the run compares to ``expected``.

    Example: ``state = "Manager.dict"``, ``key = "count"``, ``expected = "max(0, tickets -
    buyers)"``. Without ``key``, every element or key the run used must hold it.
    """

    kind: Literal["final_state"]
    state: StateKind = Field(
        description="the kind of shared state: Value, Array, Manager.dict, Manager.Value"
    )
    key: str | int | None = Field(
        None,
        description="the key of a Manager.dict entry or the index of an Array element "
        "(none: every one the run used); not for Value and Manager.Value",
    )
    expected: Any = Field(
        description="the value; a string is an expression of the parameters and run facts; "
        "[low, high] with compare = 'between'"
    )
    compare: Literal["eq", "ne", "lt", "le", "gt", "ge", "between"] = Field(
        "eq", description="how the final value compares to expected"
    )
    literal: bool = Field(False, description="take a string `expected` as a plain string")
    default_name: ClassVar[str] = N_("final value of the shared state")
    # a run that hung or crashed fails with its reason, as final_json does
    needs_complete_run: ClassVar[bool] = True

    @model_validator(mode="after")
    def _fits_the_state(self) -> FinalState:
        if self.key is not None and self.state not in _KEYED:
            raise ValueError(f"a {self.state} has no key: leave `key` out")
        if self.state == "Array" and self.key is not None and not isinstance(self.key, int):
            raise ValueError("the key of an Array element is its index, a whole number")
        check_between(self.compare, self.expected)
        return self

    def expressions(self) -> list[tuple[str, str]]:
        """``expected`` (or the bounds of a range), when they are expressions."""
        return expected_expressions(self.expected, self.compare, self.literal)

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Compare the last value of every matching object with ``expected``."""
        try:
            expected = expected_value(self.expected, self.compare, self.literal, run)
        except ExpressionError as exc:
            return Verdict(None, _("bad expected value in the exercise: {error}").format(error=exc))
        key = None if self.key is None else repr(self.key)
        last = last_accesses(trace, self.state, key)
        if not last:
            what = state_name(self.state, key)
            # in a run that was cut short, not yet: could not check (see evaluate)
            return Verdict(
                not trace.complete,
                _("no process used {what} in this run, so there was nothing to check").format(
                    what=what
                ),
            )
        for obj, access in sorted(last.items()):
            what = state_name(self.state, state_key(obj))
            if "value" not in access.event.data:
                return Verdict(
                    None,
                    _("the last value of {what} was too long to record").format(what=what),
                )
            actual = access.event.get("value")
            try:
                ok = compare(self.compare, actual, expected)
            except TypeError:
                ok = False
            if not ok:
                said = wrong_value(_STATE_VALUE, what, actual, expected, self.compare)
                return Verdict(False, said)
        return Verdict(True)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the final-state kind."""
    kinds.add(FinalState)
