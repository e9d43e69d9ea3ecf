"""Benchmark of ``ipcgrade batch``: a class of 100+ students graded with -j 1 and -j 2.

The class mixes the reference solution and every known variant of lock_ticket (correct
ones, races, a deadlock, an infinite loop, a syntax error, a missing function), some of
them as .zip files. Reported (speeds as ratios, nothing is asserted about time):

- throughput (gradings per second) and the -j2/-j1 speed-up;
- peak memory: the largest single process (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and
  the whole process tree of the batch (sampled from /proc);
- the time of an unchanged rerun against the first run;
- that every student got a result, the exports exist and no process was left behind.

Usage: ``python bench/bench_batch.py [--students 112] [--timeout S] [--jobs 1,2]``
(default: the exercise's own timeouts).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXERCISE = ROOT / "exercises" / "lock_ticket"
SOLUTION = ROOT / "solutions" / "lock_ticket" / "ticket.py"
VARIANTS = ROOT / "tests" / "submissions" / "lock_ticket"
RUN_MARKER = b"IPCGRADER_RUN="
#: Runs of the benched batches work under this folder (their TMPDIR), so that leftovers are
#: told apart from the runs of anything else on the machine.
RUNS_DIR = "runs"

# Runs a command and reports its own children's peak RSS (a fresh process per measurement,
# since ru_maxrss is a maximum over all children ever waited for).
_WRAPPER = """
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(json.dumps({"code": code,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def make_class(folder: Path, students: int) -> dict[str, int]:
    """``students`` student folders (every 4th a .zip) cycling through all variants."""
    kinds = {"solution": SOLUTION} | {p.stem: p for p in sorted(VARIANTS.glob("*.py"))}
    names = list(kinds)
    counts: dict[str, int] = {}
    for index in range(students):
        kind = names[index % len(names)]
        counts[kind] = counts.get(kind, 0) + 1
        student = f"s{index:03d}_{kind}"
        source = kinds[kind].read_bytes()
        if index % 4 == 3:
            with zipfile.ZipFile(folder / f"{student}.zip", "w") as zf:
                zf.writestr(f"{student}/ticket.py", source)
        else:
            (folder / student).mkdir()
            (folder / student / "ticket.py").write_bytes(source)
    return counts


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, in KiB."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, frontier = 0, [root]
    while frontier:
        pid = frontier.pop()
        total += rss.get(pid, 0)
        frontier.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_batch(subs: Path, out: Path, jobs: int, timeout: float | None) -> dict[str, float]:
    """One ``ipcgrade batch``: wall time, exit code, peak memory."""
    argv = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "ipcgrader", "batch",
            str(EXERCISE), "--submissions", str(subs), "--out", str(out), "-j", str(jobs),
            "--progress", "plain"]  # fmt: skip
    if timeout is not None:
        argv += ["--timeout", str(timeout)]
    runs = subs.parent / RUNS_DIR
    runs.mkdir(exist_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, env={**os.environ, "TMPDIR": str(runs)})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            peak[0] = max(peak[0], tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report = json.loads(proc.communicate()[0])
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    return {
        "wall_s": wall,
        "code": report["code"],
        "maxrss_mb": report["maxrss_kb"] / 1024,
        "tree_rss_mb": peak[0] / 1024,
    }


def check_output(out: Path, students: int) -> dict[str, int]:
    """Every student graded, exports present and parseable; statuses counted."""
    with sqlite3.connect(out / "gradebook.sqlite") as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM gradings GROUP BY status"))
    assert sum(statuses.values()) == students, statuses
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert len(suites) == students
    assert len((out / "grades.csv").read_text().splitlines()) == students + 1
    assert len(list((out / "results").rglob("*.json"))) == students
    assert (out / "summary.md").stat().st_size > 0
    return statuses


def leftovers(runs: Path) -> list[int]:
    """Live processes of a graded run (they carry the run marker) working under ``runs``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    marked = any(v.startswith(RUN_MARKER) for v in handle.read().split(b"\0"))
                cwd = os.readlink(f"/proc/{entry}/cwd")
            except OSError:
                continue
            if marked and cwd.startswith(str(runs)):
                found.append(int(entry))
    return found


def main() -> None:
    """Build the class, grade it with each -j, rerun unchanged, print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=112)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--jobs", default="1,2")
    args = parser.parse_args()
    os.environ.setdefault("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", "1")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        subs = Path(tmp) / "submissions"
        subs.mkdir()
        mix = make_class(subs, args.students)
        timeout = f"{args.timeout:g} s" if args.timeout else "the exercise's own"
        print(f"class: {args.students} students, {mix}; timeout {timeout}; "
              f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        results: dict[int, dict[str, float]] = {}
        for jobs in (int(j) for j in args.jobs.split(",")):
            out = Path(tmp) / f"out-j{jobs}"
            results[jobs] = run = run_batch(subs, out, jobs, args.timeout)
            statuses = check_output(out, args.students)
            left = leftovers(subs.parent / RUNS_DIR)
            print(f"-j {jobs}: {run['wall_s']:.1f} s, "
                  f"{args.students / run['wall_s']:.2f} gradings/s, exit {run['code']:g}, "
                  f"largest process {run['maxrss_mb']:.0f} MiB, "
                  f"batch tree peak {run['tree_rss_mb']:.0f} MiB, {statuses}, "
                  f"left behind: {len(left)}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        last = max(results)
        rerun = run_batch(subs, Path(tmp) / f"out-j{last}", last, args.timeout)
        first = results[last]["wall_s"]
        print(f"unchanged rerun (-j {last}): {rerun['wall_s']:.2f} s = "
              f"{100 * rerun['wall_s'] / first:.1f}% of the first run")  # fmt: skip
        if 1 in results and 2 in results:
            print(f"speed-up -j2/-j1: {results[1]['wall_s'] / results[2]['wall_s']:.2f}x")
        print(
            f"bench process children peak RSS (any single process): "
            f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    main()
