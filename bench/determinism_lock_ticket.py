"""Grade every lock_ticket variant many times under each start method and count flips.

A variant's verdict is what its ``expected.toml`` entry pins down: the grading's status,
the status of every check the entry names (``fails``, ``passes``) and whether each named
diagnostic kind is reported. A flip is a grading whose verdict differs from the variant's
most common one; a mismatch is one that contradicts the entry. Outcome checks the entry
does not name (how many tickets a racy run oversold) may vary: their spread is reported as
score values and distinct sets of failing checks, for information.

For each start method, every scenario of the exercise (the script one too) is made to run
under that method only, so "50 gradings under spawn" means 50 gradings in which every run
uses spawn; ``--as-shipped`` grades the exercise as it is. Expectations are written for
the exercise as shipped, so mismatches under a forced method are reported, not counted
(a threading.Lock cannot even be pickled under spawn).

Usage: ``python bench/determinism_lock_ticket.py [--repeats 50] [--methods fork spawn]
[--as-shipped] [--variants no_lock ...] [--jobs 2] [--json out.json]``; exit status 1 on
any flip that no stopped run explains (a run stopped at its timeout or CPU budget on a
loaded machine is the machine flipping, not the verdict; such flips are counted apart), or
on any mismatch as shipped.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ipcgrader.loader import LoadedExercise, load_exercise
from ipcgrader.models import Limits, Scenario
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import ExerciseResult
from ipcgrader.sandbox import RUN_CPU_DEFAULT_S
from ipcgrader.session import Options, grade

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "exercises" / "lock_ticket"
VARIANTS = ROOT / "tests" / "submissions" / "lock_ticket"
#: Hanging variants are stopped after this long (a little more than in the test suite,
#: so that their scenarios that do finish are not cut short on a busy machine).
HANG_TIMEOUT_S = 4.0


def under(loaded: LoadedExercise, method: str) -> LoadedExercise:
    """The exercise with every scenario running under ``method`` only.

    A scenario's CPU budget (``run_cpu_s``) is set for the start methods it ships with: 0.6 s
    fits six fork buyers, not six spawn buyers that each start an interpreter (about 0.1 s
    of CPU apiece). Under a forced spawn every scenario gets at least the grader's default
    budget, so a correct program is not stopped for the interpreter starts the bench forced
    on it; a spinning one still is.
    """
    spec = loaded.spec
    scenarios = [s.model_copy(update={"start_methods": None}) for s in spec.scenarios]
    if method == "spawn":
        scenarios = [_spawn_budget(s) for s in scenarios]
    forced = spec.model_copy(update={"start_methods": [method], "scenarios": scenarios})
    return LoadedExercise(spec=forced, directory=loaded.directory)


def _spawn_budget(scenario: Scenario) -> Scenario:
    limits = scenario.limits or Limits()
    budget = max(limits.run_cpu_s or 0.0, RUN_CPU_DEFAULT_S)
    return scenario.model_copy(update={"limits": limits.model_copy(update={"run_cpu_s": budget})})


def verdict(result: ExerciseResult, expected: dict[str, Any]) -> tuple[Any, ...]:
    """What must not change between gradings (see the module docstring)."""
    status = {c.id: c.status.value for c in result.checks}
    named = [*expected.get("fails", []), *expected.get("passes", [])]
    kinds = {d.kind for d in result.diagnostics}
    return (
        result.status.value,
        tuple(status.get(c) for c in named),
        tuple(k in kinds for k in expected.get("diagnostics", [])),
    )


#: words of a check's message when its run was stopped: at its timeout, or at its CPU budget
STOPPED_WORDS = ("did not finish within", "still running after", "was stopped")


def stopped(result: ExerciseResult) -> bool:
    """Whether a run of this grading was stopped (timeout, CPU budget): on a loaded machine
    that is the machine, not the verdict, flipping."""
    return any(any(w in (c.message or "") for w in STOPPED_WORDS) for c in result.checks)


def failing(result: ExerciseResult) -> tuple[str, ...]:
    """Every check that did not pass."""
    return tuple(sorted(c.id for c in result.checks if c.status.value != "passed"))


def mismatches(result: ExerciseResult, expected: dict[str, Any]) -> list[str]:
    """Where a grading contradicts the variant's expected.toml entry."""
    status = {c.id: c.status.value for c in result.checks}
    found = []
    if result.status.value != expected["status"]:
        found.append(f"status {result.status.value}")
    found += [f"{c} did not fail" for c in expected.get("fails", []) if status.get(c) != "failed"]
    found += [f"{c} did not pass" for c in expected.get("passes", []) if status.get(c) != "passed"]
    kinds = {d.kind for d in result.diagnostics}
    found += [f"no {k} diagnostic" for k in expected.get("diagnostics", []) if k not in kinds]
    return found


def run_variant(
    loaded: LoadedExercise,
    name: str,
    expected: dict[str, Any],
    repeats: int,
    jobs: int,
    timeouts: tuple[float, float] = (HANG_TIMEOUT_S, 10.0),
) -> dict[str, Any]:
    """Grade one variant ``repeats`` times and summarise. ``timeouts``: for variants that
    hang, and the least for the others (a loaded machine must not turn a slow run into a
    timeout: that would be the machine flipping, not the verdict)."""
    pm = get_plugin_manager(autoload=False)
    path = VARIANTS / expected.get("file", f"{name}.py")
    timeout = float(expected.get("timeout", 10))
    timeout = timeouts[0] if timeout < 5 else max(timeout, timeouts[1])
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(
            pool.map(lambda _: grade(loaded, path, pm, Options(timeout=timeout)), range(repeats))
        )
    verdicts = Counter(verdict(r, expected) for r in results)
    (common, _), *_ = verdicts.most_common(1)
    wrong = Counter(m for r in results for m in mismatches(r, expected))
    flipped = [r for r in results if verdict(r, expected) != common]
    # a flip is the machine's when that grading had a run stopped, or the usual one did
    usual_stopped = any(stopped(r) for r in results if verdict(r, expected) == common)
    return {
        "variant": name,
        "gradings": len(results),
        "flips": len(flipped),
        "stopped_flips": sum(1 for r in flipped if usual_stopped or stopped(r)),
        "stopped": sum(1 for r in results if stopped(r)),
        "status": common[0],
        "mismatches": dict(wrong),
        "score_values": sorted(Counter(r.score for r in results).items()),
        "failing_sets": len({failing(r) for r in results}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--methods", nargs="*", default=["fork", "spawn"])
    parser.add_argument("--as-shipped", action="store_true", help="also grade as shipped")
    parser.add_argument("--variants", nargs="*", help="default: every variant")
    parser.add_argument("--jobs", type=int, default=2, help="gradings made at once")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument(
        "--hang-timeout", type=float, default=HANG_TIMEOUT_S, help="run timeout, hanging variants"
    )
    parser.add_argument(
        "--min-timeout", type=float, default=10.0, help="least run timeout, other variants"
    )
    args = parser.parse_args(argv)

    manifest = tomllib.loads((VARIANTS / "expected.toml").read_text(encoding="utf-8"))
    names = args.variants or list(manifest)
    loaded = load_exercise(EXERCISE, get_plugin_manager(autoload=False))
    summary: list[dict[str, Any]] = []
    bad = 0
    configurations = [("shipped", loaded)] if args.as_shipped else []
    configurations += [(method, under(loaded, method)) for method in args.methods]
    for label, exercise in configurations:
        for name in names:
            row = run_variant(
                exercise,
                name,
                manifest[name],
                args.repeats,
                args.jobs,
                (args.hang_timeout, args.min_timeout),
            )
            row["method"] = label
            summary.append(row)
            real = row["flips"] - row["stopped_flips"]
            bad += real + (sum(row["mismatches"].values()) if label == "shipped" else 0)
            scores = ", ".join(f"{s:g}x{n}" for s, n in row["score_values"])
            print(
                f"{label:7s} {name:22s} {row['gradings']} gradings, {row['flips']} flips "
                f"({row['stopped_flips']} with a run stopped; {row['stopped']} gradings had "
                f"one), "
                f"{row['status']}; scores {scores}; failing sets {row['failing_sets']}"
                + (f"; mismatches {row['mismatches']}" if row["mismatches"] else ""),
                flush=True,
            )
    total = sum(r["flips"] for r in summary)
    machine = sum(r["stopped_flips"] for r in summary)
    print(
        f"total: {sum(r['gradings'] for r in summary)} gradings, {total} flips "
        f"({machine} with a run stopped at its timeout or CPU budget); load average "
        f"{os.getloadavg()}"
    )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
