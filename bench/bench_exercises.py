"""Are verdicts the same on every grading? Grade each known variant many times and count flips.

For every exercise given (default: bounded_queue, join_order, mutex_print, pipe_echo,
shared_tickets), every variant in ``tests/submissions/<exercise>/`` and the reference
solution are graded ``--repeats`` times (default 50) with the exercise's own timeout
(``--timeout`` to change it; the tests use 2 s), several gradings at once (``--jobs``) so
that the machine is busy, as it is in a class's batch.

A grading's *verdict* is its status and the status of every check. A *flip* is a grading
whose verdict differs from the variant's most frequent one; the report lists, per variant,
the flips, how many of them had a run stopped at its timeout (the machine was too slow for
the timeout, not a verdict that depends on timing), the gradings that had a run stopped as
a deadlock that the usual verdict's gradings do not have (a false deadlock is a flip like
any other: never excused as a timeout), the checks that flipped with one of their
messages, and the median and largest grading time. The exit status is 1 if anything
flipped for another reason than a timeout.

How each run ended is read from the run itself (``RunOutcome.stopped``), never guessed
from the words of a message: every stop's message says "was stopped", a deadlock's too.

Usage: ``python bench/bench_exercises.py [EXERCISE ...] [--repeats 50] [--jobs 3]
[--only VARIANT ...] [--json FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ipcgrader.loader import LoadedExercise, load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import RunRecord
from ipcgrader.session import Options, grade

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_EXERCISES = ["bounded_queue", "join_order", "mutex_print", "pipe_echo", "shared_tickets"]

Verdict = tuple[str, tuple[tuple[str, str], ...]]
#: a run of a grading that the supervisor stopped: (scenario id, start method, why)
Stop = tuple[str, str, str]


def _scenario(check: str) -> str:
    """The scenario a check id belongs to (``main.json_value.2`` -> ``main``)."""
    return check.split(".", 1)[0]


@dataclass
class Tally:
    """Every grading of one variant."""

    exercise: str
    variant: str
    verdicts: list[Verdict] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: per grading: check id -> message of every check that did not pass
    messages: list[dict[str, str]] = field(default_factory=list)
    #: per grading: the runs the supervisor stopped, and why (timeout, deadlock ...)
    stops: list[frozenset[Stop]] = field(default_factory=list)

    @property
    def usual(self) -> Verdict:
        """The most frequent verdict."""
        return Counter(self.verdicts).most_common(1)[0][0]

    @property
    def flips(self) -> int:
        """Gradings whose verdict is not the usual one."""
        return sum(1 for verdict in self.verdicts if verdict != self.usual)

    def _stopped(self, stops: frozenset[Stop], reason: str) -> set[str]:
        return {scenario for scenario, _method, why in stops if why == reason}

    @property
    def timeout_flips(self) -> int:
        """Flips explained by a timeout: a check that differs from the usual verdict is of
        a scenario with a run stopped at its timeout in this grading, or in a grading with
        the usual verdict. A deadlock stop explains nothing: a run the supervisor judged
        deadlocked is a verdict, and a false one is a flip."""
        usual = dict(self.usual[1])
        stopped: set[str] = set()
        for verdict, stops in zip(self.verdicts, self.stops, strict=True):
            if verdict == self.usual:
                stopped |= self._stopped(stops, "timeout")
        usual_deadlocks = self._usual_deadlocks()
        count = 0
        for verdict, stops in zip(self.verdicts, self.stops, strict=True):
            if verdict == self.usual or self._stopped(stops, "deadlock") - usual_deadlocks:
                continue  # (a flip to deadlock is never excused by a timeout elsewhere)
            differing = {_scenario(c) for c, status in verdict[1] if usual.get(c) != status}
            mine = self._stopped(stops, "timeout")
            if differing & (mine | stopped) or (mine and verdict[0] != self.usual[0]):
                count += 1
        return count

    def _usual_deadlocks(self) -> set[str]:
        """Scenarios stopped as a deadlock in a grading with the usual verdict."""
        usual: set[str] = set()
        for verdict, stops in zip(self.verdicts, self.stops, strict=True):
            if verdict == self.usual:
                usual |= self._stopped(stops, "deadlock")
        return usual

    @property
    def deadlock_flips(self) -> list[Stop]:
        """The deadlock stops of gradings with an unusual verdict, of scenarios that no
        grading with the usual verdict had stopped as a deadlock: a verdict flipped to
        deadlock."""
        usual = self._usual_deadlocks()
        return [
            stop
            for verdict, stops in zip(self.verdicts, self.stops, strict=True)
            if verdict != self.usual
            for stop in sorted(stops)
            if stop[2] == "deadlock" and stop[0] not in usual
        ]

    def sample(self, check: str) -> str:
        """A message of ``check`` from a grading with the unusual verdict."""
        for verdict, messages in zip(self.verdicts, self.messages, strict=True):
            if verdict != self.usual and check in messages:
                return messages[check][:160]
        return ""

    def flipped_checks(self) -> list[str]:
        """Checks whose status was not the same in every grading."""
        seen: dict[str, set[str]] = {}
        for status, checks in self.verdicts:
            seen.setdefault("(status)", set()).add(status)
            for check, check_status in checks:
                seen.setdefault(check, set()).add(check_status)
        return sorted(check for check, statuses in seen.items() if len(statuses) > 1)


def variants(exercise: str, only: set[str]) -> list[tuple[str, Path]]:
    """The reference solution and every variant file of ``exercise``."""
    found = [("(solution)", ROOT / "solutions" / exercise)]
    folder = ROOT / "tests" / "submissions" / exercise
    found += [(path.stem, path) for path in sorted(folder.glob("*.py"))]
    return [(name, path) for name, path in found if not only or name in only]


def grade_once(
    loaded: LoadedExercise, path: Path, timeout: float | None
) -> tuple[Verdict, float, dict[str, str], frozenset[Stop]]:
    """One grading with a fresh plugin manager: its verdict, wall time, messages and the
    runs the supervisor stopped."""
    pm = get_plugin_manager(autoload=False)
    runs: list[RunRecord] = []
    started = time.monotonic()
    result = grade(loaded, path, pm, Options(timeout=timeout), on_run=runs.append)
    checks = tuple((check.id, check.status.value) for check in result.checks)
    messages = {c.id: c.message for c in result.checks if c.status.value != "passed"}
    stops = frozenset(
        (run.scenario_id, run.start_method or "-", run.outcome.stopped)
        for run in runs
        if run.outcome.stopped
    )
    return (result.status.value, checks), time.monotonic() - started, messages, stops


def bench(
    exercises: list[str], repeats: int, jobs: int, timeout: float | None, only: set[str]
) -> list[Tally]:
    """Grade every variant ``repeats`` times, ``jobs`` gradings at once."""
    pm = get_plugin_manager(autoload=False)
    work: list[tuple[Tally, LoadedExercise, Path]] = []
    tallies: list[Tally] = []
    for exercise in exercises:
        loaded = load_exercise(ROOT / "exercises" / exercise, pm)
        for name, path in variants(exercise, only):
            tallies.append(Tally(exercise, name))
            work.extend((tallies[-1], loaded, path) for _ in range(repeats))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            (tally, pool.submit(grade_once, loaded, path, timeout)) for tally, loaded, path in work
        ]
        for tally, future in futures:
            verdict, seconds, messages, stops = future.result()
            tally.verdicts.append(verdict)
            tally.seconds.append(seconds)
            tally.messages.append(messages)
            tally.stops.append(stops)
            if len(tally.verdicts) == repeats:  # progress, in case the run is cut short
                print(report([tally]).splitlines()[1], file=sys.stderr, flush=True)
    return tallies


def report(tallies: list[Tally]) -> str:
    """A table: variant, gradings, flips, those with a run timed out, those with a run
    stopped as a deadlock the usual verdict has not, median and largest time."""
    head = f"{'exercise/variant':<40} {'n':>4} {'flips':>5} {'timeout':>7} {'deadlock':>8}"
    lines = [f"{head} {'median s':>9} {'max s':>7}"]
    for tally in tallies:
        deadlocks = tally.deadlock_flips
        lines.append(
            f"{tally.exercise + '/' + tally.variant:<40} {len(tally.verdicts):>4} "
            f"{tally.flips:>5} {tally.timeout_flips:>7} {len(deadlocks):>8} "
            f"{statistics.median(tally.seconds):>9.2f} {max(tally.seconds):>7.2f}"
        )
        for check in tally.flipped_checks() if tally.flips else ():
            lines.append(f"    flipped {check}: {tally.sample(check)}")
        for scenario, method, count in sorted(
            (s, m, n) for (s, m, _why), n in Counter(deadlocks).items()
        ):
            lines.append(f"    stopped as a deadlock: {scenario} ({method}) in {count} grading(s)")
    total = sum(tally.flips for tally in tallies)
    timeouts = sum(tally.timeout_flips for tally in tallies)
    deadlocked = sum(len(tally.deadlock_flips) for tally in tallies)
    gradings = sum(len(t.verdicts) for t in tallies)
    lines.append(
        f"total flips: {total} in {gradings} gradings ({timeouts} with a run timed out, "
        f"{deadlocked} runs stopped as a deadlock the usual verdict has not)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 1 if any verdict flipped."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exercises", nargs="*", default=DEFAULT_EXERCISES)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument(
        "--timeout", type=float, default=None, help="run timeout (default: the exercise's own)"
    )
    parser.add_argument("--only", nargs="*", default=[], help="variant names (stems)")
    parser.add_argument("--json", metavar="FILE", help="also write the tallies as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", "1")
    started = time.monotonic()
    tallies = bench(args.exercises, args.repeats, args.jobs, args.timeout, set(args.only))
    print(report(tallies))
    print(f"took {time.monotonic() - started:.0f} s, load average {os.getloadavg()}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                [
                    {
                        "exercise": t.exercise,
                        "variant": t.variant,
                        "gradings": len(t.verdicts),
                        "flips": t.flips,
                        "timeout_flips": t.timeout_flips,
                        "deadlock_flips": [list(stop) for stop in t.deadlock_flips],
                        "flipped_checks": t.flipped_checks(),
                        "median_s": statistics.median(t.seconds),
                        "max_s": max(t.seconds),
                    }
                    for t in tallies
                ],
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if any(tally.flips > tally.timeout_flips for tally in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
