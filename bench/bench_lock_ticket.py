"""How long grading lock_ticket takes, as a ratio to one plain run of the same program.

Measured together in one invocation, so the ratio holds on a busy machine too:

* one plain run of ``solutions/lock_ticket/ticket.py`` as a student runs it: ``python
  ticket.py`` with ``{"count": 3}`` in ticket.json, real sleeps, no harness;
* ``--repeats`` gradings of the same solution with every scenario (in-process, like the
  ``ipcgrade`` command after start-up): wall time and CPU time (grader + all run processes);
* ``--cli`` gradings through the ``ipcgrade`` command itself (adds interpreter start-up):
  wall time and the CPU of the whole command, every process under it included, as a ratio
  to the CPU of the plain run (issue 14's target: at most 5x);
* with ``--cold``, each of those measured again with every run started cold
  (``IPCGRADER_WARM=0``), interleaved with the warm ones, so the two are compared under
  the same load.

Usage: ``python bench/bench_lock_ticket.py [--repeats 10] [--cli 3] [--cold] [--submission PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.session import Options, grade, plan_runs

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "exercises" / "lock_ticket"
SOLUTION = ROOT / "solutions" / "lock_ticket"


def cpu_seconds() -> float:
    """CPU time of this process and of every child it waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def children_cpu() -> float:
    """CPU time of every child this process waited for (and of their descendants)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def plain_run(solution: Path) -> tuple[float, float]:
    """Wall and CPU time of ``python ticket.py`` with real sleeps, outside the grader."""
    with tempfile.TemporaryDirectory(prefix="ipcgrader-bench-") as folder:
        work = Path(folder)
        shutil.copyfile(solution / "ticket.py", work / "ticket.py")
        (work / "ticket.json").write_text(json.dumps({"count": 3}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPCGRADER")}
        env.pop("PYTHONPATH", None)
        started, cpu = time.perf_counter(), children_cpu()
        subprocess.run(
            [sys.executable, "ticket.py"],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        return time.perf_counter() - started, children_cpu() - cpu


def cli_run(solution: Path, warm: bool = True) -> tuple[float, float]:
    """Wall time and CPU (every process under it) of the ``ipcgrade`` command grading the
    solution."""
    env = {**os.environ, "IPCGRADER_WARM": "1" if warm else "0"}
    started, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(
        [sys.executable, "-m", "ipcgrader", str(EXERCISE), "--submission", str(solution)],
        stdout=subprocess.DEVNULL,
        env=env,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"ipcgrade exited {done.returncode}: the solution lost points")
    return time.perf_counter() - started, children_cpu() - cpu


def graded(loaded: Any, submission: Path, pm: Any, warm: bool) -> tuple[float, float]:
    """Wall and CPU time (grader and every run process) of one in-process grading."""
    os.environ["IPCGRADER_WARM"] = "1" if warm else "0"
    cpu = cpu_seconds()
    started = time.perf_counter()
    result = grade(loaded, submission, pm, Options())
    wall = time.perf_counter() - started
    if result.score != result.max_score:
        failing = [c.id for c in result.checks if c.status.value != "passed"]
        raise SystemExit(f"the solution lost points: {failing}")
    return wall, cpu_seconds() - cpu


def summary(label: str, samples: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in samples], [c for _, c in samples]
    return (
        f"{label} ({len(samples)}x): wall median {statistics.median(walls):.3f} s "
        f"(min {min(walls):.3f}); CPU median {statistics.median(cpus):.3f} s "
        f"(min {min(cpus):.3f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="in-process gradings")
    parser.add_argument("--cli", type=int, default=0, help="gradings through `ipcgrade`")
    parser.add_argument("--cold", action="store_true", help="compare with cold runs")
    parser.add_argument("--submission", type=Path, default=SOLUTION)
    args = parser.parse_args(argv)

    pm = get_plugin_manager(autoload=False)
    loaded = load_exercise(EXERCISE, pm)
    runs = plan_runs(loaded.spec)
    grade(loaded, args.submission, pm, Options())  # warm-up: byte-compiles the harness
    modes = [True, False] if args.cold else [True]
    inproc: dict[bool, list[tuple[float, float]]] = {m: [] for m in modes}
    command: dict[bool, list[tuple[float, float]]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for warm in modes:
            inproc[warm].append(graded(loaded, args.submission, pm, warm))
    os.environ.pop("IPCGRADER_WARM", None)
    plains = [plain_run(args.submission) for _ in range(3)]
    for _ in range(args.cli):
        for warm in modes:
            command[warm].append(cli_run(args.submission, warm))

    plain_wall = statistics.median(w for w, _ in plains)
    plain_cpu = statistics.median(c for _, c in plains)
    methods = sorted({r.start_method or "-" for r in runs})
    print(f"runs per grading: {len(runs)} ({', '.join(methods)}); cores: {os.cpu_count()}")
    print(f"one plain run with real sleeps (3x): wall {plain_wall:.3f} s, CPU {plain_cpu:.3f} s")
    for warm in modes:
        name = "warm" if warm else "cold"
        print(summary(f"grading in-process, {name}", inproc[warm]))
        if command[warm]:
            print(summary(f"ipcgrade command, {name}", command[warm]))
            cpu = statistics.median(c for _, c in command[warm])
            print(f"  command CPU / plain run CPU: {cpu / plain_cpu:.1f}x")
    median = statistics.median(w for w, _ in inproc[True])
    print(f"ratio median grading / plain run (wall): {median / plain_wall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
