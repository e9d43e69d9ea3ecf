"""``ipcgrade doctor``: what isolation this host gives student runs, truthfully.

Every claim is probed, not assumed: a level is "available" only if a tiny program really
ran as PID 1 under it here, and ``--measure`` times real supervised runs at each level.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipcgrader import isolation, sandbox
from ipcgrader.cli.common import Parser, add_language_argument

#: What a level does not protect against, said plainly (the README says more).
CAVEATS = {
    "basic": "student code can signal, ptrace and read every process and file of your "
    "user, and reach the network",
    "namespaces": "the filesystem is not read-only: code can write wherever your user can",
    "bwrap": "files stay readable (read-only) wherever your user can read them",
}


def measure(level: str, repeats: int = 5) -> float:
    """Median wall time, in ms, of a supervised run of an empty Python program."""
    times = []
    with tempfile.TemporaryDirectory(prefix="ipcgrade-doctor-") as folder:
        work, meta = Path(folder, "work"), Path(folder, "meta")
        work.mkdir()
        meta.mkdir()
        for _ in range(repeats):
            request = sandbox.RunRequest([sys.executable, "-c", "pass"], work, timeout_s=10)
            times.append(sandbox.run(request, meta, level=level).wall_s * 1000)
    return statistics.median(times)


def cmd_doctor(argv: Sequence[str]) -> int:
    """Print the isolation levels this host supports and the layers runs get."""
    parser = Parser(prog="ipcgrade doctor", description=cmd_doctor.__doc__)
    parser.add_argument(
        "--measure", action="store_true", help="time a supervised empty run at each level"
    )
    add_language_argument(parser)
    args = parser.parse_args(argv)
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    root = os.geteuid() == 0
    print(f"grader runs as: {'root' if root else 'uid ' + str(os.geteuid())}")
    print("isolation levels on this host:")
    levels = isolation.levels()
    for level in levels:
        mark = "yes" if level.available else "no "
        timing = ""
        if args.measure and level.available:
            timing = f"  [{measure(level.name):.0f} ms per empty run]"
        print(f"  {mark} {level.name:<11} {level.detail}{timing}")
    try:
        chosen = isolation.chosen_level()
    except isolation.IsolationError as exc:
        print(f"error: {exc}")
        return 2
    forced = os.environ.get(isolation.ENV_VAR, "auto").strip() or "auto"
    how = "chosen automatically" if forced == "auto" else f"set by {isolation.ENV_VAR}"
    print(f"level used for every run: {chosen} ({how})")
    for layer in isolation.layers_of(chosen):
        print(f"  - {layer}: {isolation.LAYERS[layer]}")
    print(f"not protected at this level: {CAVEATS[chosen]}")
    if root and chosen != "bwrap":
        print(
            "warning: the grader runs as root and without bubblewrap, so student code runs "
            "as uid 0 (no capabilities, but root's files are its own); install bubblewrap "
            "or grade as an ordinary user"
        )
    if shutil.which("bwrap") is None:
        print("hint: install bubblewrap (e.g. apt-get install bubblewrap) for the bwrap level")
    limits = sandbox.DEFAULT_LIMITS
    print(
        f"default limits: {limits.memory_mb} MiB, {limits.cpu_s} s CPU, "
        f"{limits.processes} processes, {limits.output_bytes} output bytes, "
        f"{limits.file_bytes} file bytes, {limits.open_files} open files"
    )
    return 0


def isolation_report() -> dict[str, Any]:
    """This host's isolation as data (a batch on a cluster runs it on every worker):
    ``chosen`` (None when the level forced by ``IPCGRADER_ISOLATION`` cannot be had, then
    ``error`` says why), ``forced``, ``layers`` (name -> what it protects) and ``levels``
    (each ``name``, ``available``, ``detail``)."""
    report: dict[str, Any] = {
        "uid": os.geteuid(),
        "levels": [
            {"name": level.name, "available": level.available, "detail": level.detail}
            for level in isolation.levels()
        ],
        "chosen": None,
        "forced": os.environ.get(isolation.ENV_VAR, "auto").strip() or "auto",
        "layers": {},
    }
    try:
        chosen = isolation.chosen_level()
    except isolation.IsolationError as exc:
        report["error"] = str(exc)
        return report
    report["chosen"] = chosen
    report["layers"] = {layer: isolation.LAYERS[layer] for layer in isolation.layers_of(chosen)}
    return report
