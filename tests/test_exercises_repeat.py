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

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_exercises.py"


@pytest.mark.slow
def test_no_variant_flips() -> None:
    spec = importlib.util.spec_from_file_location("bench_exercises", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    repeats = int(os.environ.get("IPCGRADER_EXERCISE_REPEATS", "50"))
    tallies = bench.bench(bench.DEFAULT_EXERCISES, repeats, 3, None, set())
    print(bench.report(tallies))
    assert all(len(tally.verdicts) == repeats for tally in tallies)
    flipped = {f"{t.exercise}/{t.variant}": t.flipped_checks() for t in tallies if t.flips}
    assert not flipped, bench.report(tallies)
