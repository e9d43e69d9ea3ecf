"""Run one command of student code: own folder, limits, timeout, and nothing left behind.

The grader starts ``harness/supervise.py`` in a new session, wrapped in the strongest
isolation level this host has (:mod:`ipcgrader.isolation`: PID/network/IPC/mount namespaces
via ``unshare``, or bubblewrap with a read-only view of the system). The supervisor enforces
the wall timeout, the output cap and the process cap, kills every process of the run and
answers on a pipe that no student process holds: how the run ended, then its output. The
grader only waits, with a hard deadline after which it kills the supervisor itself (and, in
a namespace, with it every process of the run), then sweeps by the run's marker.
"""

from __future__ import annotations

import compileall
import contextlib
import errno
import io
import marshal
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipcgrader import isolation
from ipcgrader.models import Limits
from ipcgrader.results import RunOutcome
from ipcgrader.warm import WarmRun, WarmRunner, cold_startup_cpu

HARNESS_DIR = isolation.HARNESS_DIR
#: What the harness plugin puts on every run's ``PYTHONPATH``.
INJECT_DIR = HARNESS_DIR / "inject"
#: How the supervisor is started: imported from its folder (so from its byte-compiled
#: file, not compiled again for every run) rather than run as a script. No current-folder
#: entry ("") may stay on its path: a ``select.py`` in the folder where the grader was
#: started must not stand in for the standard module.
_SUPERVISOR_CODE = (
    f"import sys; sys.path = [{str(HARNESS_DIR)!r}, *filter(None, sys.path)]; "
    "import supervise; sys.exit(supervise.main())"
)
#: Environment variable whose value marks every process of one run (fallback sweep).
RUN_MARKER = "IPCGRADER_RUN"
#: The run's start method, as the grader sets it for the harness (``sitecustomize.py``).
START_METHOD_ENV = "IPCGRADER_START_METHOD"

#: CPU budget of one run (all its processes) when the exercise sets none. Hook for
#: ``ipcgrade check``: it may record the reference solution's CPU per scenario and set
#: ``run_cpu_s`` to a multiple of it (see docs/trace.md, "Hangs").
RUN_CPU_DEFAULT_S = 3.0
#: Generous for the chapter's programs (a handful of processes, small files), small enough
#: that a runaway one costs little: a spec or the command line may change each.
DEFAULT_LIMITS = Limits(
    memory_mb=2048,
    cpu_s=60,
    # the reference solutions' runs use 0.1 to 0.4 s of CPU, all processes together
    run_cpu_s=RUN_CPU_DEFAULT_S,
    processes=64,
    output_bytes=1 << 20,
    file_bytes=64 << 20,
    open_files=256,
)
#: Grace between TERM and KILL when a run is stopped.
KILL_GRACE_S = 0.2
#: How long past the timeout (and the grace) the grader waits for the supervisor before
#: killing it; covers the supervisor's own start-up and its sweep on a loaded machine.
HARD_MARGIN_S = 0.6


class _ColdRun:
    """A run whose supervisor is started as a new interpreter (under the level's wrapper)."""

    def __init__(self, argv: list[str], log: io.BufferedWriter, config: bytes) -> None:
        self.config = config
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            # nothing of the grader's environment (tokens, paths) for the supervisor either
            env={"PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"},
        )

    def kill(self) -> None:
        """Kill the supervisor (in a namespace: every process of the run)."""
        with contextlib.suppress(OSError):
            self.proc.kill()

    def finish(self, timeout: float) -> tuple[bytes, int | None, bool]:
        """Send the configuration, wait at most ``timeout`` seconds for the answer (then kill
        the supervisor); return the answer, the exit status and whether it was killed."""
        try:
            answer, _ = self.proc.communicate(self.config, timeout=timeout)
            return answer, self.proc.returncode, False
        except subprocess.TimeoutExpired:
            self.kill()
            try:
                answer, _ = self.proc.communicate(timeout=2.0)
            except subprocess.TimeoutExpired:  # pragma: no cover - nothing else holds the pipe
                answer = b""
            return answer, self.proc.returncode, True


def warm_runner() -> WarmRunner:
    """A :class:`~ipcgrader.warm.WarmRunner` for the runs of one grading (a context
    manager: leaving it stops the warm interpreter)."""
    return WarmRunner(HARNESS_DIR)


def prestarted_runner() -> WarmRunner:
    """A :func:`warm_runner` whose warm interpreter for the usual runs (the harness on
    their path, no start-up variable of a scenario's own) is already starting, where runs
    are likely to be warm: a command that grades calls this first thing, and the
    interpreter imports what runs need while the grader still loads. A run that starts
    otherwise gets a warm interpreter of its own, as without this."""
    runner = warm_runner()
    if os.geteuid() == 0 or isolation.explicit_basic():  # else: likely a user namespace
        env = base_environment(Path("/"))
        env["PYTHONPATH"] = str(INJECT_DIR)
        runner.prestart(env)
    return runner


#: Where runs' meta folders go when it is a tmpfs with room (see :func:`meta_parent`).
SHM_DIR = "/dev/shm"
#: Free space /dev/shm must have for a run's meta folder to go there (a container's
#: /dev/shm may be 64 MiB: a few traces at their cap would fill it).
SHM_ROOM = 1 << 30


def _is_tmpfs(path: str) -> bool:
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            return any(
                fields[1] == path and fields[2] == "tmpfs"
                for fields in (line.split() for line in mounts)
                if len(fields) > 2
            )
    except OSError:
        return False


_SHM_IS_TMPFS: list[bool] = []
#: A run's meta folder in /dev/shm is ``ipcgrade-meta-PID-XXXXXXXX``, PID the grader's:
#: one a grader killed outright left there is removed by the next grader.
META_PREFIX = "ipcgrade-meta-"


def meta_prefix() -> str:
    """The name a run's meta folder in /dev/shm starts with (it names this grader)."""
    return f"{META_PREFIX}{os.getpid()}-"


def _sweep_stale_meta() -> None:
    """Remove the meta folders in /dev/shm of graders that are gone (killed before they
    could: with the run folders in the temporary folder they would be left there)."""
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return
    for entry in entries:
        owner, dash, _ = entry[len(META_PREFIX) :].partition("-")
        if not entry.startswith(META_PREFIX) or not dash or not owner.isdigit():
            continue
        try:
            os.kill(int(owner), 0)
            continue  # alive (or another user's): not ours to judge
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(os.path.join(SHM_DIR, entry), ignore_errors=True)


def meta_parent() -> str | None:
    """Where a run's meta folder is made: ``/dev/shm`` when it is a tmpfs this process may
    write and has room on, else None (the temporary folder, beside the run's folder).

    Every process of a run writes its meta folder as it goes (its trace, its wait board,
    race amplification's markers): on a disk's file system, creating and writing those
    files cost about a tenth of a grading's CPU. The student's processes may write there
    as in their run's folder (at the isolation levels with a filesystem of the run's own,
    it is one of the two host folders they see): each file is capped by the run's
    ``file_bytes`` as everywhere, and a /dev/shm short of room is not used."""
    if not _SHM_IS_TMPFS:
        _SHM_IS_TMPFS.append(_is_tmpfs(SHM_DIR) and os.access(SHM_DIR, os.W_OK | os.X_OK))
        if _SHM_IS_TMPFS[0]:
            _sweep_stale_meta()
    if not _SHM_IS_TMPFS[0]:
        return None
    try:
        room = os.statvfs(SHM_DIR)
    except OSError:
        return None
    return SHM_DIR if room.f_bavail * room.f_frsize >= SHM_ROOM else None


_ACTIVE: set[_ColdRun | WarmRun] = set()
_ACTIVE_LOCK = threading.Lock()


def kill_active_runs() -> int:
    """Kill the supervisor of every run in progress (e.g. on Ctrl-C); return how many.

    In a namespace that ends every process of those runs at once; without one, each run's
    own sweep (in :func:`run`) finishes the job when its wait returns.
    """
    with _ACTIVE_LOCK:
        runs = list(_ACTIVE)
    for started in runs:
        started.kill()
    return len(runs)


@dataclass
class RunRequest:
    """A run to make: the command, where, with what environment and limits."""

    argv: list[str]
    cwd: Path
    timeout_s: float
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    env: dict[str, str] = field(default_factory=dict)
    #: prepended to PYTHONPATH, in order (the harness goes first); shown read-only
    pythonpath: list[str] = field(default_factory=list)
    #: folder of the processes' wait boards (the harness publishes its traced waits
    #: there): the supervisor stops the run as soon as it is deadlocked; None: never
    waits_dir: Path | None = None
    #: files and folders outside ``cwd`` the run may read (an exercise's driver): where the
    #: run has a filesystem of its own, they are all it sees of the host but the runtime
    readable: list[Path] = field(default_factory=list)


def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command of the namespaces level, or () where it does not work."""
    return isolation.unshare_prefix()[0]


def isolation_layers() -> list[str]:
    """Names of the isolation layers runs get on this host (at the chosen level)."""
    return isolation.layers_of(isolation.chosen_level())


def base_environment(workdir: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's leaks into the student's run."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(workdir),
        # the run's uid (60999 when the grader is root) has no passwd entry, and
        # getpass.getuser() looks at these before it fails on the passwd lookup
        "USER": "student",
        "LOGNAME": "student",
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


_COMPILED: dict[Path, bool] = {}
_COMPILING = threading.Lock()


def precompile(folder: Path) -> bool:
    """Byte-compile the modules in ``folder`` once per grader, so the processes of a run
    import them from their cached bytecode (runs set PYTHONDONTWRITEBYTECODE, and some
    hosts set it for everyone). False where the folder is read-only: processes then compile
    in memory, only slower. Safe to call from every run's thread at once."""
    with _COMPILING:
        if folder not in _COMPILED:
            try:
                _COMPILED[folder] = bool(compileall.compile_dir(str(folder), quiet=2, maxlevels=0))
            except OSError:
                _COMPILED[folder] = False
        return _COMPILED[folder]


def _rlimits(limits: Limits) -> dict[str, int]:
    values = {"RLIMIT_CORE": 0}
    if limits.memory_mb:
        values["RLIMIT_AS"] = limits.memory_mb << 20
    if limits.cpu_s:
        values["RLIMIT_CPU"] = limits.cpu_s
    if limits.file_bytes:
        values["RLIMIT_FSIZE"] = limits.file_bytes
    if limits.open_files:
        values["RLIMIT_NOFILE"] = limits.open_files
    return values


def decode_output(data: bytes, total: int) -> tuple[str, bool]:
    """Text of one output stream (invalid UTF-8 replaced) and whether some of it was cut.

    ``data`` is the whole stream, or its head and tail halves when ``total`` is larger.
    """
    if total <= len(data):
        return data.decode("utf-8", errors="replace"), False
    half = len(data) // 2
    text = (
        data[:half].decode("utf-8", errors="replace")
        + f"\n[... {total - 2 * half} bytes cut by ipcgrader ...]\n"
        + data[half:].decode("utf-8", errors="replace")
    )
    return text, True


def sweep_marked(token: str, budget_s: float = 1.0) -> int:
    """Kill every process whose environment carries ``token`` (when no namespace did it);
    give up after ``budget_s`` (the grader must come back)."""
    needle = f"{RUN_MARKER}={token}".encode()
    killed = 0
    give_up = time.monotonic() + budget_s
    while time.monotonic() < give_up:
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if needle in handle.read().split(b"\0"):
                        found.append(int(entry))
            except OSError:
                continue
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.01)
    return killed


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?(?P<name>[A-Za-z_]\w*)(?::|$)")


def end_reason(status: dict[str, Any], stderr: str) -> str | None:
    """Why a run ended abnormally, as one word (see ``RunOutcome.reason``); None if normal."""
    stopped = status.get("stopped")
    if isinstance(stopped, str):
        return stopped
    sig, code = status.get("signal"), status.get("returncode")
    if sig == signal.SIGXFSZ:
        return "file_size"
    if sig == signal.SIGXCPU:
        return "cpu"
    if sig is not None or code not in (0, None):
        names = {m["name"] for m in map(_EXCEPTION_LINE.match, stderr.splitlines()) if m}
        if "MemoryError" in names or f"[Errno {errno.ENOMEM}]" in stderr:  # ENOMEM: mmap
            return "memory"
        if f"[Errno {errno.EFBIG}]" in stderr:  # Python ignores SIGXFSZ: write() raises
            return "file_size"
        return "signal" if sig is not None else "exit"
    if status.get("leftovers"):
        return "left_running"
    return None


def _parse_answer(answer: bytes) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """The supervisor's first record (its child), its status and the kept stdout and stderr
    bytes ({} and b"" for what it did not give, or gave cut short)."""
    stream = io.BytesIO(answer)
    try:
        child = marshal.load(stream)
    except (EOFError, ValueError, TypeError):
        return {}, {}, b"", b""
    child = child if isinstance(child, dict) else {}
    try:
        status, out, err = marshal.load(stream)
    except (EOFError, ValueError, TypeError):
        return child, {}, b"", b""
    if not (isinstance(status, dict) and isinstance(out, bytes) and isinstance(err, bytes)):
        return child, {}, b"", b""
    return child, status, out, err


def kill_group(pgid: int, token: str) -> None:
    """Kill the student's process group if it is still that of this run (its supervisor died
    outside a namespace): one signal takes the whole group, so no fork gets past it."""
    needle = f"{RUN_MARKER}={token}".encode()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) != pgid:
                continue
            with open(f"/proc/{entry}/environ", "rb") as handle:
                ours = needle in handle.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ours:
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                with contextlib.suppress(OSError):
                    os.killpg(pgid, sig)
            return


def give_to(folders: list[Path], uid: int, gid: int) -> None:
    """Make ``uid`` the owner of ``folders`` and all in them (not following links)."""
    for folder in folders:
        os.chown(folder, uid, gid, follow_symlinks=False)
        for parent, dirs, files in os.walk(folder):
            for name in (*dirs, *files):
                os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)


def _supervisor_command(
    request: RunRequest, meta_dir: Path, level: str, limits: Limits, config: dict[str, Any]
) -> list[str]:
    """The supervisor's command at ``level``; adds to ``config`` what it must do inside
    (build the run's filesystem, switch the student's uid)."""
    view = _supervisor_config(request, meta_dir, level, limits, config)
    return [
        *isolation.wrapper(level, view),
        *(sys.executable, "-I", "-S", "-c", _SUPERVISOR_CODE),
    ]


def _supervisor_config(
    request: RunRequest, meta_dir: Path, level: str, limits: Limits, config: dict[str, Any]
) -> list[isolation.Mount]:
    """Add to ``config`` what the supervisor must do inside at ``level`` (build the run's
    filesystem, switch the student's uid); return the run's view of the filesystem."""
    writable = [request.cwd.resolve(), meta_dir.resolve()]
    readable = [HARNESS_DIR, *map(Path, request.pythonpath), *request.readable]
    shm = limits.file_bytes or DEFAULT_LIMITS.file_bytes or 64 << 20
    view = isolation.view_of(writable, readable, shm) if level != "basic" else []
    if level == "namespaces":
        root = meta_dir / "view"  # an empty mount point, only for the supervisor's namespace
        root.mkdir(exist_ok=True)
        config["view"], config["view_root"] = view, str(root.resolve())
    uid = isolation.run_uid(level)
    if uid is not None:
        give_to(writable, uid, isolation.RUN_GID)
        config["uid"], config["gid"] = uid, isolation.RUN_GID
    return view


def _finish(started: _ColdRun | WarmRun, timeout: float) -> tuple[bytes, int | None, bool]:
    """Wait for a run's answer (see ``finish``), killable meanwhile by kill_active_runs."""
    with _ACTIVE_LOCK:
        _ACTIVE.add(started)
    try:
        return started.finish(timeout)
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(started)


def run(
    request: RunRequest,
    meta_dir: Path,
    *,
    level: str | None = None,
    warm: WarmRunner | None = None,
) -> RunOutcome:
    """Run ``request`` under the supervisor and return how it ended. Never raises for
    anything the student's program does; leaves no process of the run alive.

    ``level`` (default: :func:`ipcgrader.isolation.chosen_level`) is the isolation level;
    with ``warm``, the run is forked from that runner's warm interpreter where it can be.
    Raises :class:`ipcgrader.isolation.IsolationError` when the level forced by
    ``IPCGRADER_ISOLATION`` is not available."""
    limits = DEFAULT_LIMITS.merged(request.limits)
    level = level or isolation.chosen_level()
    precompile(HARNESS_DIR)
    # the grader's pid first, so a test can find the leftovers of its own runs only
    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    env = base_environment(request.cwd)
    env.update(request.env)
    if request.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(request.pythonpath)
    env[RUN_MARKER] = token
    cap = limits.output_bytes or DEFAULT_LIMITS.output_bytes or 1 << 20
    started = time.monotonic()
    config = {
        "argv": request.argv,
        "cwd": str(request.cwd),
        "env": env,
        "timeout": request.timeout_s,
        # CLOCK_MONOTONIC is the same in every process (no time namespace is made): the
        # timeout counts from here, so a supervisor slow to start on a loaded machine still
        # stops the run in time for the grader to come back within timeout + margin
        "deadline": started + request.timeout_s,
        "grace": KILL_GRACE_S,
        "output_cap": cap,
        "max_procs": limits.processes,
        "rlimits": _rlimits(limits),
        "loopback": level == "namespaces",
        "waits": str(request.waits_dir) if request.waits_dir is not None else None,
        "cpu_budget": limits.run_cpu_s,
    }
    hard_deadline = request.timeout_s + KILL_GRACE_S + HARD_MARGIN_S
    started_run: _ColdRun | WarmRun | None = None
    if warm is not None and warm.takes(request.argv, level):
        # a warm run's supervisor makes its namespaces and builds its filesystem itself,
        # at bwrap as at namespaces (the same view, from the same list)
        warm_config = {**config, "loopback": level != "basic"}
        # spawn children of a run the grader makes under spawn come from a template
        # (harness/spawner.py) instead of each starting an interpreter
        warm_config["spawn_template"] = request.env.get(START_METHOD_ENV) == "spawn"
        # only the configuration: the command is the cold run's (at bwrap, a warm run is
        # configured as at namespaces, and asking for that level's command would probe
        # unshare, ~15 ms of CPU and of wall, for a command never run)
        _supervisor_config(request, meta_dir, warm.level_of(level), limits, warm_config)
        with open(meta_dir / "supervisor.log", "wb") as log:
            started_run = warm.start(request.argv, warm_config, level, log.fileno())
        if started_run is not None:
            answer, exit_status, forced = _finish(started_run, hard_deadline)
            if not forced and exit_status not in (0, None) and not _parse_answer(answer)[0]:
                # it failed before the student's program started (a namespace or mount this
                # host refuses): this run and the grading's next ones are made cold
                warm.give_up()
                started_run = None
                started = time.monotonic()
                config["deadline"] = started + request.timeout_s
    if started_run is None:
        if limits.run_cpu_s is not None:  # its interpreters' start-ups are not its work
            config["cpu_credit"] = cold_startup_cpu(HARNESS_DIR, env)
        with open(meta_dir / "supervisor.log", "ab") as log:
            argv = _supervisor_command(request, meta_dir, level, limits, config)
            started_run = _ColdRun(argv, log, marshal.dumps(config))
        answer, exit_status, forced = _finish(started_run, hard_deadline)
    child, status, out_bytes, err_bytes = _parse_answer(answer)
    if exit_status != 0:
        status = {}  # killed from outside mid-answer: trust nothing it said
    swept = 0
    if forced or not status:
        # The supervisor died before it killed every process of the run (in a namespace
        # the kernel has done it): the student's group first, then a sweep by marker.
        if isinstance(child.get("child"), int) and child.get("pid1") is False:
            kill_group(child["child"], token)
        swept = sweep_marked(token)
    wall = time.monotonic() - started
    if not status:
        # the supervisor itself died (killed by the student, or by us at the hard deadline)
        status = {"stopped": "timeout" if forced else "killed"}
    out, out_cut = decode_output(out_bytes, int(status.get("stdout_total", len(out_bytes))))
    err, err_cut = decode_output(err_bytes, int(status.get("stderr_total", len(err_bytes))))
    returncode, sig, stopped = status.get("returncode"), status.get("signal"), status["stopped"]
    return RunOutcome(
        returncode=returncode if isinstance(returncode, int) else None,
        signal=sig if isinstance(sig, int) else None,
        timed_out=stopped == "timeout",
        duration_s=float(status.get("duration_s", wall)),
        stdout=out,
        stderr=err,
        stdout_truncated=out_cut,
        stderr_truncated=err_cut,
        stopped=stopped if isinstance(stopped, str) else None,
        leftovers=int(status.get("leftovers", 0)) + swept,
        isolation=isolation.layers_of(level),
        reason=end_reason({**status, "leftovers": int(status.get("leftovers", 0)) + swept}, err),
        limits=limits,
        wall_s=wall,
        peak_processes=int(status.get("peak_processes", 0)),
        cpu_s=float(cpu) if isinstance(cpu := status.get("cpu_s"), (int, float)) else None,
        stopped_t=float(at) if isinstance(at := status.get("stopped_t"), (int, float)) else None,
        run_cpu_s=float(c) if isinstance(c := status.get("run_cpu_s"), (int, float)) else None,
        cpu_budget_s=float(b) if isinstance(b := status.get("cpu_budget"), (int, float)) else None,
        warm=isinstance(started_run, WarmRun),
        stuck=stuck[:2000] if isinstance(stuck := status.get("stuck"), str) else None,
    )
