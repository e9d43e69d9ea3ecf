"""Every variant of the chapter's four exercises gets the same verdict on repeated gradings
(slow: ``pytest -m slow tests/test_exercises_repeat.py``).

Runs ``bench/bench_exercises.py``: each variant and solution graded
``IPCGRADER_EXERCISE_REPEATS`` times (default 50), three gradings at once, with the
exercises' own timeouts. A flip whose grading had a run stopped at its timeout means the
machine was too slow for that timeout; any other flip is a verdict that depends on timing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_exercises.py"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_exercises", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    return bench


def test_a_flip_to_deadlock_is_counted_apart_from_timeouts() -> None:
    """The bench reads how each run ended, not the words of a message (a deadlock's says
    "was stopped" too): a grading whose run was stopped as a deadlock, where the usual
    gradings' were not, is a flip no timeout excuses, and its exit status says so."""
    bench = _bench()
    usual = ("passed", (("main.json_value", "passed"), ("drain.json_value", "passed")))
    deadlocked = ("failed", (("main.json_value", "failed"), ("drain.json_value", "passed")))
    slow = ("failed", (("main.json_value", "passed"), ("drain.json_value", "failed")))
    stopped = "was stopped: every one of its processes was waiting for another one"
    tally = bench.Tally("bounded_queue", "poll_nonblocking")
    for verdict, messages, stops in [
        (usual, {}, frozenset()),
        (usual, {}, frozenset({("drain", "spawn", "timeout")})),
        (usual, {}, frozenset()),
        (deadlocked, {"main.json_value": stopped}, frozenset({("main", "fork", "deadlock")})),
        (slow, {"drain.json_value": "did not finish within 2 s and was stopped"},
         frozenset({("drain", "fork", "timeout")})),
    ]:  # fmt: skip
        tally.verdicts.append(verdict)
        tally.seconds.append(1.0)
        tally.messages.append(messages)
        tally.stops.append(stops)
    assert tally.flips == 2
    assert tally.timeout_flips == 1  # the drain timeout only
    assert tally.deadlock_flips == [("main", "fork", "deadlock")]
    table = bench.report([tally])
    assert "stopped as a deadlock: main (fork) in 1 grading" in table
    assert "1 runs stopped as a deadlock" in table


@pytest.mark.slow
def test_no_variant_flips() -> None:
    bench = _bench()
    repeats = int(os.environ.get("IPCGRADER_EXERCISE_REPEATS", "50"))
    tallies = bench.bench(bench.DEFAULT_EXERCISES, repeats, 3, None, set())
    print(bench.report(tallies))
    assert all(len(tally.verdicts) == repeats for tally in tallies)
    flipped = {f"{t.exercise}/{t.variant}": t.flipped_checks() for t in tallies if t.flips}
    assert not flipped, bench.report(tallies)
