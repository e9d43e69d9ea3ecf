"""Benchmark of ``ipcgrade batch`` on lock_ticket, in one run (ratios, nothing asserted):

- a *clean* class of 20 (the reference solution and the correct variants) at ``-j 1`` and
  ``-j 2``: wall time, gradings per second, the speed-up, and CPU per grading (every
  process under the batch command, from ``getrusage(RUSAGE_CHILDREN)``);
- the *same* class with 4 students replaced by hanging submissions (a self-deadlock, a
  two-lock deadlock, a lock never released, an infinite loop) at ``-j 2``, as a ratio to
  the clean class (a hang should cost little more than a correct program);
- ``--scheduler``: the clean class on a Dask cluster on localhost (a scheduler and its
  workers on 127.0.0.1, on the same two cores) against the local ``-j 2`` batch: wall and
  CPU per grading (client and workers), when distributed is installed (else a skipping row);
- ``--mixed N``: the older class of N students cycling through every variant (some as .zip
  files), with peak memory and an unchanged rerun.

Every batch is checked: every student got a result, the exports exist, no process of a
run was left behind.

Usage: ``python bench/bench_batch.py [--timeout S] [--mixed 0] [--no-dask]``
(default: the exercise's own timeouts).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "maxrss_kb": usage.ru_maxrss,
                  "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


#: The clean class: every variant that must get full marks, and the reference solution.
CLEAN = ("correct_with_lock", "correct_try_finally", "correct_rlock", "correct_flock",
         "lock_whole_task")  # fmt: skip
#: Replace 4 of the clean class's students in the hanging class.
HANGING = ("double_acquire", "two_locks", "lock_not_released", "infinite_loop")


def write_student(folder: Path, student: str, source: Path) -> None:
    """One student folder holding ``ticket.py``."""
    (folder / student).mkdir()
    (folder / student / "ticket.py").write_bytes(source.read_bytes())


def make_clean_class(folder: Path, students: int, hanging: bool) -> None:
    """``students`` correct students; with ``hanging``, the last 4 hang instead."""
    kinds = [SOLUTION, *(VARIANTS / f"{k}.py" for k in CLEAN)]
    folder.mkdir()
    for index in range(students):
        source = kinds[index % len(kinds)]
        if hanging and index >= students - len(HANGING):
            source = VARIANTS / f"{HANGING[index - (students - len(HANGING))]}.py"
        write_student(folder, f"s{index:03d}_{source.stem}", source)


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


def run_batch(
    subs: Path, out: Path, jobs: int | None, timeout: float | None, extra: tuple[str, ...] = ()
) -> dict[str, float]:
    """One ``ipcgrade batch``: wall time, exit code, CPU of every process, peak memory.
    ``jobs`` None: no ``-j`` (a batch on a Dask cluster)."""
    argv = [sys.executable, "-c", _WRAPPER, sys.executable, "-m", "ipcgrader", "batch",
            str(EXERCISE), "--submissions", str(subs), "--out", str(out),
            "--progress", "plain", *extra]  # fmt: skip
    if jobs is not None:
        argv += ["-j", str(jobs)]
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
        "cpu_s": report["cpu_s"],
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


def dask_executor_available() -> str | None:
    """Why the Dask row cannot run here, or None when it can."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return "dask.distributed is not installed (pip install 'ipcgrader[dask]')"
    return None


def _stats() -> dict[int, list[bytes]]:
    """Every process's /proc stat fields after its name."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    found[int(entry)] = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``, of the children it has waited for (the runs' supervisors
    and, through them, the runs) and of its live descendants the same way (a worker's warm
    interpreter, alive as long as the worker, and the runs it forked), from /proc."""
    stats = _stats()
    total, frontier = 0, [pid]
    while frontier:
        here = frontier.pop()
        total += sum(int(f) for f in stats[here][11:15]) if here in stats else 0
        frontier.extend(p for p, fields in stats.items() if int(fields[1]) == here)
    return total / os.sysconf("SC_CLK_TCK")


def start_cluster(
    tmp: Path, workers: int, threads: int
) -> tuple[str, list[subprocess.Popen[bytes]]]:
    """``dask scheduler`` (a free port) and ``workers`` workers of ``threads`` threads on
    127.0.0.1, each in its own process group; the address once every worker has joined."""
    import distributed

    file = tmp / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(file)],
                              stderr=subprocess.DEVNULL, start_new_session=True)]  # fmt: skip
    for index in range(workers):
        procs.append(subprocess.Popen(
            [*dask, "worker", "--scheduler-file", str(file), "--host", "127.0.0.1",
             "--no-dashboard", "--no-nanny", "--nthreads", str(threads),
             "--local-directory", str(tmp / f"worker{index}")],
            stderr=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "TMPDIR": str(tmp)},
        ))  # fmt: skip
    address = None
    while address is None:
        try:
            address = json.loads(file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet, or half
            time.sleep(0.1)
    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def stop_cluster(procs: list[subprocess.Popen[bytes]]) -> None:
    """TERM every process group, then KILL what is still there; wait for each."""
    for proc in reversed(procs):
        os.killpg(proc.pid, signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def dask_row(subs: Path, tmp: Path, local: dict[str, float], timeout: float | None) -> None:
    """The clean class on a Dask cluster on localhost, on the same cores as the local -j 2
    batch: one worker of 2 threads (its run gate is the local batch's), and two workers of
    1 thread (two gates: more runs at once). CPU counts the client and the workers."""
    why = dask_executor_available()
    if why is not None:
        print(f"dask on localhost: skipped: {why}")
        return
    students = len(list(subs.iterdir()))
    for workers, threads in ((1, 2), (2, 1)):
        label = f"{workers}x{threads}"
        folder = tmp / f"dask-{label}"
        folder.mkdir()
        address, procs = start_cluster(folder, workers, threads)
        try:
            before = sum(cpu_s(p.pid) for p in procs[1:])
            run = run_batch(subs, folder / "out", None, timeout, ("--scheduler", address))
            cpu = run["cpu_s"] + sum(cpu_s(p.pid) for p in procs[1:]) - before
        finally:
            stop_cluster(procs)
        statuses = check_output(folder / "out", students)
        print(f"dask on localhost ({workers} worker(s) x {threads} thread(s)): "
              f"{run['wall_s']:.1f} s = {run['wall_s'] / local['wall_s']:.2f}x the local "
              f"-j 2 wall, CPU {cpu / students:.2f} s per grading "
              f"({cpu / local['cpu_s']:.2f}x local), exit {run['code']:g}, {statuses}; "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip


def graded(label: str, subs: Path, out: Path, jobs: int, timeout: float | None) -> dict[str, float]:
    """Grade ``subs`` once, check the exports, print one line, return the figures."""
    students = len(list(subs.iterdir()))
    run = run_batch(subs, out, jobs, timeout)
    statuses = check_output(out, students)
    left = leftovers(subs.parent / RUNS_DIR)
    print(f"{label} -j {jobs}: {run['wall_s']:.1f} s, {students / run['wall_s']:.2f} gradings/s, "
          f"CPU {run['cpu_s'] / students:.2f} s per grading, exit {run['code']:g}, "
          f"{statuses}, left behind: {len(left)}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    return run


def mixed_class(tmp: Path, students: int, timeout: float | None) -> None:
    """The older benchmark: every variant, zips, peak memory, an unchanged rerun."""
    subs = tmp / "mixed"
    subs.mkdir()
    mix = make_class(subs, students)
    print(f"mixed class: {students} students, {mix}")
    out = tmp / "out-mixed"
    run = graded("mixed", subs, out, 2, timeout)
    print(f"  largest process {run['maxrss_mb']:.0f} MiB, "
          f"batch tree peak {run['tree_rss_mb']:.0f} MiB")  # fmt: skip
    rerun = run_batch(subs, out, 2, timeout)
    print(f"  unchanged rerun: {rerun['wall_s']:.2f} s = "
          f"{100 * rerun['wall_s'] / run['wall_s']:.1f}% of the first run")  # fmt: skip


def main() -> None:
    """Grade the clean and the hanging class (and Dask, the mixed class); print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=20, help="size of the clean class")
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--mixed", type=int, default=0, metavar="N", help="also a mixed class")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask row")
    args = parser.parse_args()
    os.environ.setdefault("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", "1")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as name:
        tmp = Path(name)
        timeout = f"{args.timeout:g} s" if args.timeout else "the exercise's own"
        print(f"lock_ticket, clean class of {args.students}; timeout {timeout}; "
              f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")  # fmt: skip
        clean, hanging = tmp / "clean", tmp / "hanging"
        make_clean_class(clean, args.students, hanging=False)
        make_clean_class(hanging, args.students, hanging=True)
        one = graded("clean", clean, tmp / "out-clean-j1", 1, args.timeout)
        two = graded("clean", clean, tmp / "out-clean-j2", 2, args.timeout)
        print(f"speed-up -j2/-j1: {one['wall_s'] / two['wall_s']:.2f}x")
        hung = graded(f"{len(HANGING)} hanging", hanging, tmp / "out-hanging-j2", 2, args.timeout)
        print(f"hanging/clean at -j 2: wall {hung['wall_s'] / two['wall_s']:.2f}x "
              f"(aim <= 1.3), CPU {hung['cpu_s'] / two['cpu_s']:.2f}x")  # fmt: skip
        if args.no_dask:
            print("dask on localhost: skipped (--no-dask)")
        else:
            dask_row(clean, tmp, two, args.timeout)
        if args.mixed:
            mixed_class(tmp, args.mixed, args.timeout)


if __name__ == "__main__":
    main()
