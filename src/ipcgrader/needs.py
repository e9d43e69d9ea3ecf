"""What a check needs to have happened before a pass can count.

A check scores only what happened: "no deadlock" is no achievement for a program that
started no process, nor "no exception escapes" for a function that did nothing. Every
expectation states its needs (its kind's :attr:`~ipcgrader.models.Expectation.default_needs`
plus the spec's ``needs``); a *passing* verdict on a run where one of them did not happen
becomes a failure that says what did not happen. A failing verdict keeps its own, more
precise message.
"""

from __future__ import annotations

from ipcgrader.checks.observed import load_observations
from ipcgrader.expr import ExpressionError, evaluate
from ipcgrader.i18n import _
from ipcgrader.models import Expectation, Fact, ObservedNeed
from ipcgrader.results import RunRecord, Verdict
from ipcgrader.trace import trace_of
from ipcgrader.trace.events import Event

#: Trace event kinds that are a child's own work (not its start, end or sleeps).
WORK_KINDS = frozenset(
    {
        "acquire", "read", "write", "put", "get", "send", "recv", "out", "err", "start",
        "poll",
    }
)  # fmt: skip


def _is_work(event: Event) -> bool:
    """Whether ``event`` is the child doing its work. A line on stderr counts only when the
    student's code wrote it: the traceback multiprocessing prints for a child that crashed
    (no frame of the student's on the stack while it is written) is no work done, and a
    check that needs work must not pass on a child that only died."""
    if event.kind not in WORK_KINDS:
        return False
    return event.kind != "err" or event.file is not None


def _fact(fact: Fact, run: RunRecord) -> Verdict | None:
    """None when ``fact`` happened in ``run``; else the verdict that says it did not."""
    if fact == "output":
        if any(line.strip() for line in run.outcome.stdout.splitlines()):
            return None
        return Verdict(False, _("the program printed nothing, so there was nothing to check"))
    trace = trace_of(run)
    if trace is None:
        return Verdict(
            None,
            _("this run was not traced, so whether its child processes ran cannot be known"),
        )
    workers = trace.workers()
    if fact == "workers":
        if workers:
            return None
        return Verdict(
            False, _("no child process ran your code in this run, so there was nothing to check")
        )
    if any(_is_work(e) for w in workers for e in w.events):
        return None
    return Verdict(
        False,
        _(
            "no child process did anything the grader watches (a lock, a shared file, a "
            "queue, a pipe, a printed line), so there was nothing to check"
        ),
    )


def _observed(need: ObservedNeed, run: RunRecord) -> Verdict | None:
    observed = load_observations(run, need.file)
    if observed is None:
        return Verdict(False, need.message)
    try:
        holds = evaluate(need.when, {**run.params, **observed})
    except ExpressionError:
        return Verdict(False, need.message)
    return None if holds else Verdict(False, need.message)


def unmet(expectation: Expectation, run: RunRecord) -> Verdict | None:
    """The first need of ``expectation`` that did not happen in ``run``, as a verdict."""
    needs: list[Fact | ObservedNeed] = [*expectation.default_needs, *expectation.needs]
    for need in needs:
        found = _observed(need, run) if isinstance(need, ObservedNeed) else _fact(need, run)
        if found is not None:
            return found
    return None
