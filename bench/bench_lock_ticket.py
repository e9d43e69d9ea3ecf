"""How long grading lock_ticket takes, as a ratio to one plain run of the same program.

Measured together in one invocation, so the ratio holds on a busy machine too:

* one plain run of ``solutions/lock_ticket/ticket.py`` as a student runs it: ``python
  ticket.py`` with ``{"count": 3}`` in ticket.json, real sleeps, no harness;
* ``--repeats`` gradings of the same solution with every scenario (in-process, like the
  ``ipcgrade`` command after start-up): wall time and CPU time (grader + all run processes);
* ``--cli`` gradings through the ``ipcgrade`` command itself (adds interpreter start-up).

Usage: ``python bench/bench_lock_ticket.py [--repeats 10] [--cli 3] [--submission PATH]``
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


def plain_run(solution: Path) -> float:
    """Wall time of ``python ticket.py`` with real sleeps, outside the grader."""
    with tempfile.TemporaryDirectory(prefix="ipcgrader-bench-") as folder:
        work = Path(folder)
        shutil.copyfile(solution / "ticket.py", work / "ticket.py")
        (work / "ticket.json").write_text(json.dumps({"count": 3}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("IPCGRADER")}
        env.pop("PYTHONPATH", None)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "ticket.py"],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=120,
        )
        return time.perf_counter() - started


def cli_run(solution: Path) -> float:
    """Wall time of the ``ipcgrade`` command grading the solution."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "ipcgrader", str(EXERCISE), "--submission", str(solution)],
        stdout=subprocess.DEVNULL,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"ipcgrade exited {done.returncode}: the solution lost points")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="in-process gradings")
    parser.add_argument("--cli", type=int, default=0, help="gradings through `ipcgrade`")
    parser.add_argument("--submission", type=Path, default=SOLUTION)
    args = parser.parse_args(argv)

    pm = get_plugin_manager(autoload=False)
    loaded = load_exercise(EXERCISE, pm)
    runs = plan_runs(loaded.spec)
    grade(loaded, args.submission, pm, Options())  # warm-up: byte-compiles the harness
    walls, cpus = [], []
    for _ in range(args.repeats):
        cpu = cpu_seconds()
        started = time.perf_counter()
        result = grade(loaded, args.submission, pm, Options())
        walls.append(time.perf_counter() - started)
        cpus.append(cpu_seconds() - cpu)
        if result.score != result.max_score:
            failing = [c.id for c in result.checks if c.status.value != "passed"]
            raise SystemExit(f"the solution lost points: {failing}")
    plain = plain_run(args.submission)
    clis = [cli_run(args.submission) for _ in range(args.cli)]

    median = statistics.median(walls)
    methods = sorted({r.start_method or "-" for r in runs})
    print(f"runs per grading: {len(runs)} ({', '.join(methods)}); cores: {os.cpu_count()}")
    print(
        f"grading (in-process, {len(walls)}x): median {median:.3f} s "
        f"(min {min(walls):.3f}, max {max(walls):.3f}); "
        f"CPU median {statistics.median(cpus):.3f} s"
    )
    if clis:
        print(f"grading (ipcgrade command, {len(clis)}x): median {statistics.median(clis):.3f} s")
    print(f"one plain run with real sleeps: {plain:.3f} s")
    print(f"ratio median grading / plain run: {median / plain:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
