"""``ipcgrade doctor``: what isolation this host gives student runs, truthfully.

Every claim is probed, not assumed: a level is "available" only if a tiny program really
ran as PID 1 under it here, and ``--measure`` times real supervised runs at each level.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipcgrader import isolation, sandbox
from ipcgrader.cli.common import Parser, add_language_argument, error
from ipcgrader.i18n import _


def caveat(level: str) -> str:
    """What ``level`` does not protect against, said plainly (docs/security.md says more)."""
    if level == "basic":
        return _(
            "student code can read and write every file your user can (other submissions, "
            "the exercise's solution, the gradebook, your home), signal and ptrace your "
            "processes, and reach the network"
        )
    return _(
        "memory and CPU limits are per process (a run's total is processes x memory_mb); "
        "the run folder has no quota beyond file_bytes per file"
    )


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cost(level: str, repeats: int = 5) -> tuple[float, float]:
    """Median wall time and CPU time (the grader's, the wrapper's, the supervisor's and the
    program's), in ms, of a supervised run of an empty Python program at ``level``. The
    CPU time barely depends on how loaded the machine is; the wall time does."""
    walls, cpus = [], []
    with tempfile.TemporaryDirectory(prefix="ipcgrade-doctor-") as folder:
        work, meta = Path(folder, "work"), Path(folder, "meta")
        work.mkdir()
        meta.mkdir()
        for _run in range(repeats):
            request = sandbox.RunRequest([sys.executable, "-c", "pass"], work, timeout_s=10)
            before = _cpu_s()
            walls.append(sandbox.run(request, meta, level=level).wall_s * 1000)
            cpus.append((_cpu_s() - before) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def measure(level: str, repeats: int = 5) -> float:
    """Median wall time, in ms, of a supervised run of an empty Python program."""
    return cost(level, repeats)[0]


def isolation_report(measure_repeats: int = 0, wanted: str | None = None) -> dict[str, Any]:
    """What ``ipcgrade doctor`` finds on this host, as data (a batch on a cluster runs it on
    every worker): the level runs get (``chosen``, or None and ``error`` saying why when
    the one asked for cannot be had), its ``layers`` (name -> what it protects), the uid
    student code runs as (``run_uid``, None: the grader's), what the level does not
    protect (``caveat``), ``warnings``, and every level (``levels``: ``name``,
    ``available``, ``detail``, and with ``measure_repeats`` > 0 ``ms_per_run`` and
    ``cpu_ms_per_run``); also ``root``, ``uid``, ``python``, ``bwrap_installed`` and
    ``forced`` (the level asked for: ``wanted``, else ``IPCGRADER_ISOLATION``, or auto).
    Plain data: it crosses a network."""
    forced = wanted if wanted is not None else os.environ.get(isolation.ENV_VAR, "auto")
    report: dict[str, Any] = {
        "chosen": None,
        "error": None,
        "layers": {},
        "run_uid": None,
        "caveat": "",
        "warnings": [],
        "levels": [],
        "root": os.geteuid() == 0,
        "uid": os.geteuid(),
        "python": f"{sys.executable} ({sys.version.split()[0]})",
        "forced": forced.strip().lower() or "auto",
        "bwrap_installed": shutil.which("bwrap") is not None,
    }
    for level in isolation.levels():
        entry: dict[str, Any] = {
            "name": level.name,
            "available": level.available,
            "detail": level.detail,
        }
        if measure_repeats and level.available:
            wall, cpu = cost(level.name, measure_repeats)
            entry["ms_per_run"], entry["cpu_ms_per_run"] = round(wall, 1), round(cpu, 1)
        report["levels"].append(entry)
    try:
        chosen = isolation.chosen_level(wanted)
    except isolation.IsolationError as exc:
        report["error"] = str(exc)
        return report
    report["chosen"] = chosen
    report["layers"] = {layer: isolation.LAYERS[layer] for layer in isolation.layers_of(chosen)}
    report["run_uid"] = isolation.run_uid(chosen)
    report["caveat"] = str(caveat(chosen))
    if chosen == "basic":
        report["warnings"].append(str(isolation.basic_warning()))
        if report["root"]:
            report["warnings"].append(
                str(
                    _(
                        "the grader runs as root at the basic level, so student code runs "
                        "as uid 0 (no capabilities, but root's files are its own)"
                    )
                )
            )
    return report


def cmd_doctor(argv: Sequence[str]) -> int:
    """Print the isolation levels this host supports and the layers runs get (with
    --scheduler: those of every worker of a Dask cluster)."""
    parser = Parser(prog="ipcgrade doctor", description=cmd_doctor.__doc__)
    parser.add_argument(
        "--measure", action="store_true", help=_("time a supervised empty run at each level")
    )
    parser.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help=_("check every worker of the Dask cluster of this scheduler instead of this host"),
    )
    parser.add_argument(
        "--connect-timeout",
        metavar="S",
        type=float,
        default=30.0,
        help=_("with --scheduler: seconds to wait for the scheduler, then for a worker"),
    )
    add_language_argument(parser)
    args = parser.parse_args(argv)
    repeats = 9 if args.measure else 0
    if args.scheduler:
        return _doctor_cluster(args.scheduler, args.connect_timeout, repeats)
    return print_report(isolation_report(measure_repeats=repeats))


def _doctor_cluster(address: str, timeout: float, repeats: int) -> int:
    """Each worker's report, under a line that names it; 2 when the cluster cannot be
    reached or a worker cannot grade (another ipcgrader, a level it cannot have)."""
    from ipcgrader.batch.cluster import ClusterError, check_workers, describe_worker, workers_report

    try:
        workers = workers_report(address, timeout, repeats)
    except ClusterError as exc:
        error(str(exc), prog="ipcgrade doctor")
        return 2
    code = 0
    for worker, info in sorted(workers.items()):
        print(describe_worker(worker, info))
        code = max(code, print_report(info["isolation"], indent="    "))
        if info["isolation"]["chosen"] is None:
            continue  # said above
        for problem in check_workers({worker: info}):  # another ipcgrader there
            print("    " + _("error: {error}").format(error=problem))
            code = 2
    return code


def print_report(report: dict[str, Any], indent: str = "") -> int:
    """Print what :func:`isolation_report` found (a worker's: under ``indent``); 2 when the
    level asked for cannot be had there, else 0."""

    def say(line: str) -> None:
        print(indent + line)

    say(_("python: {python}").format(python=report["python"]))
    uid = report["uid"]
    who = "root" if uid == 0 else _("uid {uid}").format(uid=uid)
    say(_("grader runs as: {who}").format(who=who))
    say(_("isolation levels on this host:"))
    for level in report["levels"]:
        mark = _("yes") if level["available"] else _("no")
        timing = ""
        if "ms_per_run" in level:
            timing = "  " + _("[{wall:.0f} ms, {cpu:.0f} ms of CPU per empty run]").format(
                wall=level["ms_per_run"], cpu=level["cpu_ms_per_run"]
            )
        # a level's detail is a marked sentence ("always available") or what the probe
        # found (a command line, a path): _() leaves the latter as it is
        say(f"  {mark:<3} {level['name']:<11} {_(level['detail'])}{timing}")
    chosen = report["chosen"]
    if chosen is None:
        say(_("error: {error}").format(error=report["error"]))
        return 2
    forced = report["forced"]
    if forced == "auto":
        how = _("chosen automatically")
    else:
        how = _("set by {variable}").format(variable=isolation.ENV_VAR)
    say(_("level used for every run: {level} ({how})").format(level=chosen, how=how))
    for layer, text in report["layers"].items():
        say(f"  - {layer}: {_(text)}")
    if report["run_uid"] is not None:
        say(_("student code runs as uid {uid}").format(uid=report["run_uid"]))
    say(_("not protected at this level: {caveat}").format(caveat=report["caveat"]))
    for warning in report["warnings"]:
        say(_("warning: {warning}").format(warning=warning))
    if not report.get("bwrap_installed", shutil.which("bwrap") is not None):
        say(_("hint: install bubblewrap (e.g. apt-get install bubblewrap) for the bwrap level"))
    limits = sandbox.DEFAULT_LIMITS
    say(
        _(
            "default limits: {memory_mb} MiB, {cpu_s} s CPU, {processes} processes, "
            "{output_bytes} output bytes, {file_bytes} file bytes, {open_files} open files"
        ).format(
            memory_mb=limits.memory_mb,
            cpu_s=limits.cpu_s,
            processes=limits.processes,
            output_bytes=limits.output_bytes,
            file_bytes=limits.file_bytes,
            open_files=limits.open_files,
        )
    )
    return 0
