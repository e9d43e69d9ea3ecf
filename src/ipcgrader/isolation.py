"""Isolation levels of a student run on this host: probed once, chosen automatically.

Every run gets the **basic** layers (own session and process group, scrubbed environment,
stdin at end of file, capped output, rlimits, no capabilities, wall timeout, sweep of every
descendant). On top, the best level this host supports is used:

- ``namespaces``: ``unshare`` puts the supervisor in new PID, network, IPC and mount
  namespaces (and a user namespace when the grader is not root);
- ``bwrap``: bubblewrap does the same and shows the run a read-only view of the system in
  which only its working folder, its meta folder and a private ``/dev/shm`` are writable.

``IPCGRADER_ISOLATION=basic|namespaces|bwrap`` forces a level (``auto`` is the default).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

LEVELS = ("basic", "namespaces", "bwrap")
_T = TypeVar("_T")
ENV_VAR = "IPCGRADER_ISOLATION"

#: Layer name -> what it protects against; the order is the order they are applied in.
LAYERS: dict[str, str] = {
    "session": "own session and process group: a student's killpg cannot reach the grader",
    "rlimits": "CPU, address space, file size, open files, no core files (per process)",
    "no-capabilities": "no capabilities and no_new_privs: rlimits cannot be raised again",
    "capped-output": "stdout/stderr read by the supervisor, head and tail kept",
    "subreaper-sweep": "every descendant, setsid escapees included, is killed at the end",
    "pid-namespace": "the run sees only its own processes; the supervisor is its PID 1",
    "network-namespace": "no network: only a loopback of its own",
    "ipc-namespace": "System V IPC and POSIX message queues of its own",
    "mount-namespace": "its own mount table and /proc",
    "user-namespace": "root inside maps to the grader's own user outside",
    "read-only-system": "the whole filesystem read-only but the run's own folders",
    "private-shm": "a /dev/shm of its own (semaphores, shared memory), size-capped",
}
_BASIC = ["session", "rlimits", "no-capabilities", "capped-output", "subreaper-sweep"]
_NAMESPACES = ["pid-namespace", "network-namespace", "ipc-namespace", "mount-namespace"]


class IsolationError(RuntimeError):
    """The isolation level asked for (``IPCGRADER_ISOLATION``) cannot be had here."""


@dataclass(frozen=True)
class Level:
    """One isolation level on this host: can it be used, and why (not)."""

    name: str
    available: bool
    detail: str


def _is_root() -> bool:
    return os.geteuid() == 0


def _probe(prefix: Sequence[str]) -> str | None:
    """Run a tiny Python under ``prefix``; None if it ran as PID 1, else why not."""
    command = [*prefix, sys.executable, "-I", "-S", "-c", "import os; print(os.getpid())"]
    try:
        done = subprocess.run(command, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if done.returncode == 0 and done.stdout.strip() == b"1":
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


#: The probes run once per grader process, also when every run of a grading (each in a
#: thread of its own) asks at the same moment: without this, each would probe.
_PROBING = threading.Lock()


def _probed_once(probe: Callable[[], _T]) -> Callable[[], _T]:
    cached = functools.lru_cache(maxsize=1)(probe)

    @functools.wraps(probe)
    def once() -> _T:
        with _PROBING:
            return cached()

    return once


@_probed_once
def unshare_prefix() -> tuple[tuple[str, ...], str]:
    """The ``unshare`` command of the namespaces level and a note; () if it does not work."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return (), "unshare (util-linux) is not installed"
    namespaces = ("--pid", "--fork", "--kill-child", "--mount-proc", "--net", "--ipc")
    user = ("--user", "--map-root-user")
    # root may need no user namespace (and a container may forbid one); others need it
    candidates = [(), user] if _is_root() else [user]
    failure = None
    for extra in candidates:
        prefix = (unshare, *extra, *namespaces)
        failure = _probe(prefix)
        if failure is None:
            return prefix, " ".join(["unshare", *prefix[1:]])
    return (), f"unshare cannot create namespaces here: {failure}"


def _bwrap_privileges() -> list[list[str]]:
    """bubblewrap's privilege options to try, best first.

    Root keeps its capabilities in bwrap unless told; an ordinary user never gets any. The
    supervisor would keep two: to take real-time priority, and to drop every capability
    for good in the student's process (see ``confine.drop_privileges``); a container that
    lacks them gets none."""
    if not _is_root():
        return [["--unshare-user"]]
    drop = ["--cap-drop", "ALL"]
    return [[*drop, "--cap-add", "CAP_SYS_NICE", "--cap-add", "CAP_SETPCAP"], drop]


def bwrap_args(writable: Sequence[Path], shm_bytes: int, privileges: Sequence[str]) -> list[str]:
    """bubblewrap options of a run whose writable folders are ``writable``."""
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent"]
    args += ["--as-pid-1", "--new-session", *privileges]
    args += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    args += ["--size", str(shm_bytes), "--tmpfs", "/dev/shm"]
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    return args


@_probed_once
def bwrap_setup() -> tuple[str | None, tuple[str, ...], str]:
    """Path of a working ``bwrap``, its privilege options and a note; None and why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return None, (), "bubblewrap (bwrap) is not installed"
    failure = None
    with tempfile.TemporaryDirectory(prefix="ipcgrade-probe-") as folder:
        for privileges in _bwrap_privileges():
            failure = _probe([bwrap, *bwrap_args([Path(folder)], 1 << 20, privileges), "--"])
            if failure is None:
                return bwrap, tuple(privileges), bwrap
    return None, (), f"bwrap does not work here: {failure}"


def bwrap_path() -> str | None:
    """Path of a working ``bwrap``, or None."""
    return bwrap_setup()[0]


def levels() -> list[Level]:
    """Every level, with whether this host supports it."""
    prefix, unshare_note = unshare_prefix()
    bwrap, _, bwrap_note = bwrap_setup()
    return [
        Level("basic", True, "always available"),
        Level("namespaces", bool(prefix), unshare_note),
        Level("bwrap", bwrap is not None, bwrap_note),
    ]


def chosen_level() -> str:
    """The level runs use: ``IPCGRADER_ISOLATION`` if set, else the strongest available.

    Raises :class:`IsolationError` for an unknown or unavailable level that was asked for.
    """
    wanted = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if wanted == "auto":
        if bwrap_path() is not None:
            return "bwrap"
        return "namespaces" if unshare_prefix()[0] else "basic"
    if wanted not in LEVELS:
        raise IsolationError(f"{ENV_VAR}={wanted!r}: choose auto, {', '.join(LEVELS)}")
    level = next(item for item in levels() if item.name == wanted)
    if not level.available:
        raise IsolationError(f"{ENV_VAR}={wanted}: {level.detail}")
    return wanted


def layers_of(level: str) -> list[str]:
    """Names of the layers a run at ``level`` gets (keys of :data:`LAYERS`)."""
    if level == "basic":
        return list(_BASIC)
    user = [] if _is_root() else ["user-namespace"]
    extra = ["read-only-system", "private-shm"] if level == "bwrap" else []
    return [*_BASIC, *_NAMESPACES, *user, *extra]


def wrapper(level: str, writable: Sequence[Path], shm_bytes: int) -> list[str]:
    """The command that goes before the supervisor's own at ``level``."""
    if level == "namespaces":
        return list(unshare_prefix()[0])
    if level == "bwrap":
        bwrap, privileges, _ = bwrap_setup()
        assert bwrap is not None, "chosen_level() checked it"
        return [bwrap, *bwrap_args(writable, shm_bytes, privileges), "--"]
    return []
