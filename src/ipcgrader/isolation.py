"""Isolation levels of a student run on this host: probed once, chosen automatically.

Every run gets the **basic** layers (own session and process group, scrubbed environment,
stdin at end of file, capped output, rlimits, no capabilities, wall timeout, sweep of every
descendant). On top, the best level this host supports is used:

- ``namespaces``: ``unshare`` puts the supervisor in new PID, network, IPC and mount
  namespaces (and a user namespace when the grader is not root), and the supervisor builds
  the run a filesystem of its own (:func:`view_of`, ``harness/fsview.py``);
- ``bwrap``: bubblewrap makes the same namespaces and the same filesystem.

At both, the run sees the Python runtime and the harness read-only, its own folders
writable, a private ``/tmp`` and ``/dev/shm``, its own ``/proc`` and a few devices: not the
exercise folder (but its declared driver), other submissions, the gradebook or the grader's
home. A grader running as root runs student code as :data:`RUN_UID`, which owns only the
run's folders.

``IPCGRADER_ISOLATION=basic|namespaces|bwrap`` forces a level (``auto`` is the default).
"""

from __future__ import annotations

import functools
import marshal
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

from ipcgrader.i18n import N_, _

LEVELS = ("basic", "namespaces", "bwrap")
_T = TypeVar("_T")
ENV_VAR = "IPCGRADER_ISOLATION"

#: Layer name -> what it protects against; the order is the order they are applied in.
#: English, as data (a cluster's workers send it); said in the reader's language with _().
LAYERS: dict[str, str] = {
    "session": N_("own session and process group: a student's killpg cannot reach the grader"),
    "rlimits": N_("CPU, address space, file size, open files, no core files (per process)"),
    "no-capabilities": N_("no capabilities and no_new_privs: rlimits cannot be raised again"),
    "capped-output": N_("stdout/stderr read by the supervisor, head and tail kept"),
    "subreaper-sweep": N_("every descendant, setsid escapees included, is killed at the end"),
    "pid-namespace": N_("the run sees only its own processes; the supervisor is its PID 1"),
    "network-namespace": N_("no network: only a loopback of its own"),
    "ipc-namespace": N_("System V IPC and POSIX message queues of its own"),
    "mount-namespace": N_("its own mount table and /proc"),
    "user-namespace": N_("root inside maps to the grader's own user outside"),
    "own-filesystem": N_(
        "a filesystem of its own: the Python runtime and the harness "
        "read-only, its run folder writable, private /tmp and /dev/shm (size-capped); nothing "
        "else of the host (not other submissions, the exercise's other files, the gradebook, "
        "the grader's home or /etc/shadow)"
    ),
    "unprivileged-uid": N_(
        "the grader runs as root, student code as an unprivileged uid that owns only its run folder"
    ),
}
_BASIC = ["session", "rlimits", "no-capabilities", "capped-output", "subreaper-sweep"]
_NAMESPACES = ["pid-namespace", "network-namespace", "ipc-namespace", "mount-namespace"]
#: The uid and gid student code runs as when the grader is root (at the levels that give a
#: filesystem of its own): no account's, like isolate's box uids; it owns only the run's
#: folders, which are all it can see that is writable.
RUN_UID = RUN_GID = 60999


def basic_warning() -> str:
    """What the basic level cannot do, said where a grading is reported (the single
    grading's header, the batch summary, ``doctor``)."""
    return _(
        "isolation level basic: a submission can read and write every file the grader's "
        "user can (other submissions, the exercise's solution, the gradebook, the grader's "
        "home); `ipcgrade doctor` says why and what would protect them"
    )


def explicit_basic() -> bool:
    """Was the basic level asked for by name (``IPCGRADER_ISOLATION=basic``)?"""
    return os.environ.get(ENV_VAR, "").strip().lower() == "basic"


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


HARNESS_DIR = Path(__file__).resolve().parent / "harness"
#: The namespaces level's probe: the supervisor must be able to build a run's filesystem.
_ENTER_VIEW = (
    "import marshal, sys; sys.path.insert(0, sys.argv[1]); import fsview; "
    "fsview.enter(sys.argv[2], marshal.loads(bytes.fromhex(sys.argv[3])))"
)


def _probe(prefix: Sequence[str], setup: str = "", args: Sequence[str] = ()) -> str | None:
    """Run a tiny Python under ``prefix`` (``setup`` first, with ``args``); None if it ran
    as PID 1, else why not."""
    code = f"{setup}; import os; print(os.getpid())" if setup else "import os; print(os.getpid())"
    command = [*prefix, sys.executable, "-I", "-S", "-c", code, *args]
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
    with tempfile.TemporaryDirectory(prefix="ipcgrade-probe-") as folder:
        root = Path(folder, "view")
        root.mkdir()
        view = marshal.dumps(view_of([Path(folder)], [HARNESS_DIR], 1 << 20)).hex()
        for extra in candidates:
            prefix = (unshare, *extra, *namespaces)
            failure = _probe(prefix, _ENTER_VIEW, [str(HARNESS_DIR), str(root), view])
            if failure is None:
                return prefix, " ".join(["unshare", *prefix[1:]])
    return (), f"unshare cannot create namespaces here: {failure}"


def _bwrap_privileges() -> list[list[str]]:
    """bubblewrap's privilege options to try, best first.

    Root keeps its capabilities in bwrap unless told; an ordinary user never gets any. The
    supervisor keeps four: to take real-time priority, to drop every capability for good
    in the student's process (see ``confine.drop_privileges``) and to switch it to
    :data:`RUN_UID` (without them root's student code would run as uid 0, so there is no
    fallback without them)."""
    if not _is_root():
        return [["--unshare-user"]]
    drop = ["--cap-drop", "ALL"]
    keep = ["CAP_SYS_NICE", "CAP_SETPCAP", "CAP_SETUID", "CAP_SETGID"]
    return [[*drop, *(a for cap in keep for a in ("--cap-add", cap))]]


#: One mount of a run's own filesystem: ``(kind, target, source, size)``, as
#: ``harness/fsview.py`` builds it and :func:`bwrap_args` says it to bubblewrap.
Mount = tuple[str, str, str, int]
#: What of /etc a Python program may need: the loader's cache (without it libraries in
#: multiarch folders are not found), names of localhost, users and groups, the time zone.
_ETC = ("ld.so.cache", "hosts", "nsswitch.conf", "host.conf", "passwd", "group", "localtime")
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def _python_folders() -> list[Path]:
    """Folders of the Python runtime: its prefixes (a venv's and its base's) and the
    folder of every link on the way from ``sys.executable`` to the real interpreter (a
    venv's ``python`` may point into the grader's home: that folder is shown, not the
    home)."""
    folders = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    folders.add(Path(sys.base_exec_prefix))
    path, seen = Path(sys.executable), 0
    while seen < 16:
        folders.add(path.parent)
        if not path.is_symlink():
            break
        path, seen = path.parent / os.readlink(path), seen + 1
    return sorted(folders)


@functools.lru_cache(maxsize=1)
def runtime_mounts() -> tuple[Mount, ...]:
    """The read-only part of every run's filesystem: the system's programs and libraries,
    a few files of /etc and the Python runtime (found once per grader)."""
    found: list[Mount] = []
    for top in _SYSTEM:
        if os.path.islink(top):
            found.append(("symlink", top, os.readlink(top), 0))
        elif os.path.isdir(top):
            found.append(("ro", top, top, 0))
    for name in _ETC:
        path = f"/etc/{name}"
        if os.path.islink(path):
            found.append(("symlink", path, os.readlink(path), 0))
        elif os.path.isfile(path):
            found.append(("ro", path, path, 0))
    found += [("ro", str(folder), str(folder), 0) for folder in _python_folders()]
    return tuple(found)


def _under(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or inside it (both absolute and normalized)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _covered(path: str, by: list[str]) -> bool:
    return any(_under(path, other) for other in by)


def _parents(path: str) -> list[str]:
    """The folders ``path`` is in, the root excluded."""
    found = []
    parent = os.path.dirname(path)
    while parent not in ("/", ""):
        found.append(parent)
        parent = os.path.dirname(parent)
    return found


def _depth(path: str) -> int:
    return 1 if path == "/" else path.count("/") + 1


def view_of(writable: Sequence[Path], readable: Sequence[Path], shm_bytes: int) -> list[Mount]:
    """The mounts of a run's own filesystem, parents first: the runtime and ``readable``
    (files or folders: the harness, a declared driver) read-only, ``writable`` (its run and
    meta folders) writable, a private /tmp and /dev/shm of ``shm_bytes`` each, its /proc."""
    # made for every run: plain strings, not pathlib (which cost a run milliseconds here)
    mounts: list[Mount] = [m for m in runtime_mounts() if m[0] == "symlink"]
    shown: list[str] = []
    bound = [str(Path(m[2])) for m in runtime_mounts() if m[0] == "ro"]
    for path in [*bound, *(os.path.abspath(p) for p in readable)]:
        # never the whole host; a folder already shown is not shown twice
        if path != "/" and os.path.exists(path) and not _covered(path, shown):
            shown = [p for p in shown if not _under(p, path)] + [path]
    mounts += [("ro", p, p, 0) for p in shown]
    mounts += [("rw", str(p), str(p), 0) for p in writable]
    # the folders on the way to each, made world-readable (bubblewrap would copy the host's
    # modes: /root's 0700 would keep the runtime in it from the student's uid)
    targets = {str(Path(m[1])) for m in mounts}
    # a folder is on the way unless it is a mount or inside one
    ways = {a for p in targets for a in _parents(p) if not targets.intersection([a, *_parents(a)])}
    mounts += [("dir", a, "", 0) for a in sorted(ways, key=lambda a: a.split("/"))]
    mounts += [("tmpfs", "/tmp", "", shm_bytes), ("dev", "/dev", "", shm_bytes)]
    mounts.append(("proc", "/proc", "", 0))
    return sorted(mounts, key=lambda m: _depth(str(Path(m[1]))))


def bwrap_args(view: Sequence[Mount], privileges: Sequence[str]) -> list[str]:
    """bubblewrap options of a run whose filesystem is ``view`` (see :func:`view_of`)."""
    args = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent"]
    args += ["--as-pid-1", "--new-session", *privileges]
    for kind, target, source, size in view:
        if kind in ("ro", "rw"):
            args += ["--ro-bind" if kind == "ro" else "--bind", source, target]
        elif kind == "symlink":
            args += ["--symlink", source, target]
        elif kind == "dir":
            args += ["--perms", "0755", "--dir", target]
        elif kind == "tmpfs":
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", target]
        elif kind == "dev":
            args += ["--dev", target, "--perms", "1777", "--size", str(size)]
            args += ["--tmpfs", f"{target}/shm"]
        elif kind == "proc":
            args += ["--proc", target]
    return [*args, "--remount-ro", "/"]


@_probed_once
def bwrap_setup() -> tuple[str | None, tuple[str, ...], str]:
    """Path of a working ``bwrap``, its privilege options and a note; None and why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or not sys.platform.startswith("linux"):
        return None, (), "bubblewrap (bwrap) is not installed"
    failure = None
    with tempfile.TemporaryDirectory(prefix="ipcgrade-probe-") as folder:
        view = view_of([Path(folder)], [], 1 << 20)
        for privileges in _bwrap_privileges():
            failure = _probe([bwrap, *bwrap_args(view, privileges), "--"])
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
        Level("basic", True, N_("always available")),
        Level("namespaces", bool(prefix), unshare_note),
        Level("bwrap", bwrap is not None, bwrap_note),
    ]


def chosen_level(wanted: str | None = None) -> str:
    """The level runs use: ``wanted`` if given (a batch's ``--isolation`` on a worker),
    else ``IPCGRADER_ISOLATION`` if set, else the strongest available.

    Raises :class:`IsolationError` for an unknown or unavailable level that was asked for.
    """
    if wanted is None:
        wanted = os.environ.get(ENV_VAR, "auto")
    wanted = wanted.strip().lower() or "auto"
    if wanted == "auto":
        if bwrap_path() is not None:
            return "bwrap"
        return "namespaces" if unshare_prefix()[0] else "basic"
    if wanted not in LEVELS:
        raise IsolationError(
            _("{variable}={value}: choose auto, {levels}").format(
                variable=ENV_VAR, value=repr(wanted), levels=", ".join(LEVELS)
            )
        )
    level = next(item for item in levels() if item.name == wanted)
    if not level.available:
        raise IsolationError(
            _("{variable}={value}: {why}").format(variable=ENV_VAR, value=wanted, why=level.detail)
        )
    return wanted


def layers_of(level: str) -> list[str]:
    """Names of the layers a run at ``level`` gets (keys of :data:`LAYERS`)."""
    if level == "basic":
        return list(_BASIC)
    user = ["unprivileged-uid"] if _is_root() else ["user-namespace"]
    return [*_BASIC, *_NAMESPACES, "own-filesystem", *user]


def run_uid(level: str) -> int | None:
    """The uid student code switches to at ``level`` (None: it keeps the grader's)."""
    return RUN_UID if level != "basic" and _is_root() else None


def wrapper(level: str, view: Sequence[Mount]) -> list[str]:
    """The command that goes before the supervisor's own at ``level``; at ``namespaces``
    the supervisor builds ``view`` itself."""
    if level == "namespaces":
        return list(unshare_prefix()[0])
    if level == "bwrap":
        bwrap, privileges, _ = bwrap_setup()
        assert bwrap is not None, "chosen_level() checked it"
        return [bwrap, *bwrap_args(view, privileges), "--"]
    return []
