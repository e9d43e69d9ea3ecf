"""The output kinds (line_order, no_interleave, output_count) and no_exception, on
hand-made runs: glued lines, pids from the trace, tracebacks of children."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ipcgrader.checks.exceptions import NoException, escaped_exceptions
from ipcgrader.checks.ordering import LineOrder, MatchCount, NoInterleave, output_lines
from ipcgrader.results import RunOutcome, RunRecord


def run_with(stdout: str = "", stderr: str = "", returncode: int = 0, **extra: Any) -> RunRecord:
    return RunRecord(
        exercise_id="x",
        scenario_id="s",
        start_method="fork",
        repeat=0,
        params=extra.pop("params", {}),
        outcome=RunOutcome(returncode=returncode, stdout=stdout, stderr=stderr),
        **extra,
    )


# --- line_order ------------------------------------------------------------------------


def test_line_order_passes_when_every_before_precedes_every_after() -> None:
    check = LineOrder(kind="line_order", before="is gone", after="主进程")
    out = "a is running\nb is running\na is gone\nb is gone\n主进程\n"
    assert check.evaluate(run_with(out)).passed is True


def test_line_order_names_the_lines_out_of_order() -> None:
    check = LineOrder(kind="line_order", before="is gone", after="主进程")
    verdict = check.evaluate(run_with("a is gone\n主进程\nb is gone\n"))
    assert verdict.passed is False
    assert "“主进程” (output line 2)" in verdict.message
    assert "“is gone” (output line 3)" in verdict.message


def test_line_order_sees_order_inside_glued_lines() -> None:
    # print() writes text and newline separately: two processes can glue their lines
    check = LineOrder(kind="line_order", sequence=["a is gone", "b is running"])
    verdict = check.evaluate(run_with("a is runningb is running\n\na is gone\n"))
    assert verdict.passed is False
    assert "“b is running” (output line 1)" in verdict.message


def test_line_order_fails_when_a_pattern_never_matches() -> None:
    check = LineOrder(kind="line_order", before="is gone", after="主进程")
    verdict = check.evaluate(run_with("主进程\n"))
    assert verdict.passed is False and "nothing printed matches “is gone”" in verdict.message


@pytest.mark.parametrize(
    "fields",
    [{"before": "a"}, {"before": "a", "after": "b", "sequence": ["a", "b"]}, {"sequence": ["a"]}],
)
def test_line_order_needs_exactly_one_form(fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        LineOrder(kind="line_order", **fields)


def test_bad_regex_is_a_spec_error() -> None:
    with pytest.raises(ValidationError, match="regular expression"):
        NoInterleave(kind="no_interleave", start="(", end="x")


# --- no_interleave ----------------------------------------------------------------------

START, END = r"(?P<name>p\d)开始打印了", r"(?P<name>p\d)打印结束了"


def interleave(**fields: Any) -> NoInterleave:
    return NoInterleave(kind="no_interleave", start=START, end=END, **fields)


def test_no_interleave_passes_on_whole_sections() -> None:
    out = "p2开始打印了\np2打印结束了\np1开始打印了\np1打印结束了\n"
    assert interleave(sections=2).evaluate(run_with(out)).passed is True


def test_no_interleave_catches_glued_start_lines() -> None:
    verdict = interleave().evaluate(run_with("p1开始打印了p2开始打印了\n\np1打印结束了\n"))
    assert verdict.passed is False
    assert "“p2开始打印了”" in verdict.message and "onto one line" in verdict.message


def test_no_interleave_catches_an_end_of_another_name() -> None:
    verdict = interleave().evaluate(run_with("p1开始打印了\np2打印结束了\n"))
    assert verdict.passed is False and "“p2打印结束了” (output line 2)" in verdict.message


def test_no_interleave_counts_sections_and_unclosed_ones() -> None:
    one = "p1开始打印了\np1打印结束了\n"
    verdict = interleave(sections="len(names)").evaluate(run_with(one, params={"names": [1, 2]}))
    assert verdict.passed is False and "expected 2" in verdict.message
    assert interleave().evaluate(run_with("p1开始打印了\n")).passed is False
    assert interleave().evaluate(run_with("")).passed is False


def test_no_interleave_uses_pids_from_the_trace_when_there_is_no_name() -> None:
    check = NoInterleave(kind="no_interleave", start="begin", end="end")
    lines = [{"pid": 7, "text": "begin"}, {"pid": 8, "text": "end"}]
    verdict = check.evaluate(run_with("ignored\n", artifacts={"output_lines": lines}))
    # the owners differ by pid; the message names output lines, never pids (they differ
    # from run to run)
    assert verdict.passed is False and "“end” (output line 2)" in verdict.message
    assert "pid" not in verdict.message


def test_output_lines_prefers_the_trace() -> None:
    traced = run_with("p1p2\n\n", artifacts={"output_lines": [{"pid": 3, "text": "p1"}]})
    assert [(line.pid, line.text) for line in output_lines(traced)] == [(3, "p1")]
    assert [line.text for line in output_lines(run_with("a\nb\n"))] == ["a", "b"]


# --- output_count -----------------------------------------------------------------------


def test_output_count_counts_matches_not_lines() -> None:
    check = MatchCount(kind="output_count", pattern="is running", expected="len(specs)")
    glued = run_with("a is runningb is running\n\nc is running\n", params={"specs": [1, 2, 3]})
    assert check.evaluate(glued).passed is True
    verdict = MatchCount(kind="output_count", pattern="x", expected=2).evaluate(run_with("x\n"))
    assert verdict.passed is False and "printed 1" in verdict.message


# --- no_exception -----------------------------------------------------------------------

CHILD_CRASH = """\
Process Process-1:
Traceback (most recent call last):
  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap
    self.run()
  File "/tmp/ipcgrade-x/work/drain.py", line 8, in producer
    q.put(item, block=False)
  File "/usr/lib/python3.11/multiprocessing/queues.py", line 90, in put
    raise Full
queue.Full
"""

CHAINED = """\
Traceback (most recent call last):
  File "/w/echo.py", line 5, in echo_server
    message = conn.recv()
EOFError

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/w/echo.py", line 7, in echo_server
    raise ValueError("bad")
ValueError: bad
"""


def test_escaped_exceptions_locate_the_students_line_in_a_child() -> None:
    [found] = escaped_exceptions(CHILD_CRASH, {"drain.py"})
    assert (found.exception, found.short_name, found.child) == ("queue.Full", "Full", True)
    assert found.where() == "drain.py:8 in producer()"


def test_a_handled_exception_in_a_chain_does_not_count() -> None:
    assert [e.exception for e in escaped_exceptions(CHAINED)] == ["ValueError"]


def test_no_exception_filters_by_name_and_reports_a_child_crash() -> None:
    run = run_with(stderr=CHILD_CRASH)
    check = NoException(kind="no_exception", exceptions=["Full"], files=["drain.py"])
    verdict = check.evaluate(run)
    assert verdict.passed is False
    assert "queue.Full was raised in a child process and not caught (drain.py:8" in verdict.message
    assert "child process" in verdict.message
    assert [(d.kind, d.file, d.line) for d in verdict.diagnostics] == [
        ("uncaught_exception", "drain.py", 8)
    ]
    assert NoException(kind="no_exception", exceptions=["Empty"]).evaluate(run).passed is True
    assert NoException(kind="no_exception").evaluate(run_with(stderr="")).passed is True


@pytest.mark.parametrize(
    ("occurrence", "passed"), [("all", False), ("first", True), ("last", False)]
)
def test_line_order_can_take_first_or_last_occurrences(occurrence: str, passed: bool) -> None:
    # a program that prints "working" again after "ready": only its first one is ordered
    check = LineOrder(kind="line_order", sequence=["working", "ready"], occurrence=occurrence)
    run = run_with("working 1\nready\nworking 2\n")
    assert check.evaluate(run).passed is passed
    last = LineOrder(kind="line_order", sequence=["start", "working"], occurrence="last")
    assert last.evaluate(run_with("working 0\nstart\nworking 1\n")).passed is True


def test_a_run_stopped_for_its_cpu_budget_passes_nothing_the_stop_point_decides() -> None:
    """A spinning run is stopped wherever its loop is when the budget runs out (how far
    depends on the machine): "no exception yet" is no pass there, and never the unmet need
    of a driver that had not written its observations yet: "not judged", every time. What
    holds at every stop point still counts: an exception that escaped, a json_value whose
    driver wrote its observations as it went (judge_incomplete)."""
    from ipcgrader.checks.observed import JsonValue
    from ipcgrader.scoring import judge

    def spun(stderr: str = "") -> RunRecord:
        run = run_with(stderr=stderr, returncode=None, files={"observed.json": b'{"n": 1}'})
        run.outcome = RunOutcome(
            returncode=None, stderr=stderr, stopped="cpu_budget", reason="cpu_budget"
        )
        return run

    quiet = judge(NoException(kind="no_exception"), spun())
    assert quiet.passed is False and quiet.stopped
    assert quiet.message.startswith("not judged: the program kept computing")
    needing = NoException(kind="no_exception", needs=[{"when": "n > 5", "message": "unmet"}])
    assert judge(needing, spun()).message != "unmet"
    crashed = judge(NoException(kind="no_exception"), spun(CHILD_CRASH))
    assert crashed.passed is False and not crashed.stopped
    observed = JsonValue(kind="json_value", file="observed.json", value="n", expected=1)
    assert judge(observed.model_copy(update={"judge_incomplete": True}), spun()).passed is True
    assert judge(observed, spun()).stopped
