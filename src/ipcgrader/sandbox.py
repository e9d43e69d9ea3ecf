"""Run one command of student code: own folder, limits, timeout, and nothing left behind.

The grader starts ``harness/supervise.py`` in a new session (and, where ``unshare`` works,
as PID 1 of a new PID namespace, so its death takes every process of the run with it). The
supervisor enforces the wall timeout, the output cap and the process cap and sweeps every
descendant; the grader only waits, with a hard deadline after which it kills the supervisor
itself. Output goes to files, never pipes: a grandchild holding a pipe open would hang us.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ipcgrader.models import Limits
from ipcgrader.results import RunOutcome

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
SUPERVISOR = HARNESS_DIR / "supervise.py"
#: Environment variable whose value marks every process of one run (fallback sweep).
RUN_MARKER = "IPCGRADER_RUN"

DEFAULT_LIMITS = Limits(
    memory_mb=2048,
    cpu_s=60,
    processes=256,
    output_bytes=1 << 20,
    file_bytes=64 << 20,
    open_files=256,
)
#: Grace between TERM and KILL when a run is stopped.
KILL_GRACE_S = 0.2
#: How long past the timeout the grader waits for the supervisor before killing it.
HARD_MARGIN_S = 0.6


_ACTIVE: set[subprocess.Popen[bytes]] = set()
_ACTIVE_LOCK = threading.Lock()


def kill_active_runs() -> int:
    """Kill the supervisor of every run in progress (e.g. on Ctrl-C); return how many.

    With a PID namespace that ends every process of those runs at once; without one, each
    run's own sweep (in :func:`run`) finishes the job when its wait returns.
    """
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE)
    for proc in procs:
        with contextlib.suppress(OSError):
            proc.kill()
    return len(procs)


@dataclass
class RunRequest:
    """A run to make: the command, where, with what environment and limits."""

    argv: list[str]
    cwd: Path
    timeout_s: float
    limits: Limits = field(default_factory=lambda: DEFAULT_LIMITS)
    env: dict[str, str] = field(default_factory=dict)
    #: prepended to PYTHONPATH, in order (the harness goes first)
    pythonpath: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` command that gives a run its own PID namespace, or () if none works.

    Root can create namespaces directly; others need a user namespace (``-r``) first.
    """
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return ()
    base = ("--pid", "--fork", "--kill-child", "--mount-proc")
    candidates: list[tuple[str, ...]] = [(unshare, *base)] if os.geteuid() == 0 else []
    candidates.append((unshare, "--user", "--map-root-user", *base))
    for prefix in candidates:
        try:
            done = subprocess.run(
                [*prefix, sys.executable, "-I", "-S", "-c", "import os; print(os.getpid())"],
                capture_output=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if done.returncode == 0 and done.stdout.strip() == b"1":
            return prefix
    return ()


def isolation_layers() -> list[str]:
    """Names of the isolation layers runs get on this host."""
    layers = ["session", "rlimits", "subreaper-sweep"]
    if namespace_prefix():
        layers.append("pid-namespace")
    return layers


def base_environment(workdir: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's leaks into the student's run."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(workdir),
        "TMPDIR": str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def _rlimits(limits: Limits) -> dict[str, int]:
    merged = DEFAULT_LIMITS.merged(limits)
    values = {"RLIMIT_CORE": 0}
    if merged.memory_mb:
        values["RLIMIT_AS"] = merged.memory_mb << 20
    if merged.cpu_s:
        values["RLIMIT_CPU"] = merged.cpu_s
    if merged.file_bytes:
        values["RLIMIT_FSIZE"] = merged.file_bytes
    if merged.open_files:
        values["RLIMIT_NOFILE"] = merged.open_files
    return values


def read_capped(path: Path, cap: int) -> tuple[str, bool]:
    """A file's text, keeping the head and the tail when it is over ``cap`` bytes."""
    try:
        size = path.stat().st_size
    except OSError:
        return "", False
    with path.open("rb") as handle:
        if size <= cap:
            data = handle.read()
            return data.decode("utf-8", errors="replace"), False
        half = cap // 2
        head = handle.read(half)
        handle.seek(size - half)
        tail = handle.read(half)
    dropped = size - 2 * half
    text = (
        head.decode("utf-8", errors="replace")
        + f"\n[... {dropped} bytes cut by ipcgrader ...]\n"
        + tail.decode("utf-8", errors="replace")
    )
    return text, True


def sweep_marked(token: str) -> int:
    """Kill every process whose environment carries ``token`` (when no namespace did it)."""
    needle = f"{RUN_MARKER}={token}".encode()
    killed = 0
    for _ in range(20):
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


def run(request: RunRequest, meta_dir: Path) -> RunOutcome:
    """Run ``request`` under the supervisor and return how it ended. Never raises for
    anything the student's program does; leaves no process of the run alive."""
    limits = DEFAULT_LIMITS.merged(request.limits)
    # the grader's pid first, so a test can find the leftovers of its own runs only
    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    env = base_environment(request.cwd)
    env.update(request.env)
    if request.pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(request.pythonpath)
    env[RUN_MARKER] = token
    stdout, stderr = meta_dir / "stdout", meta_dir / "stderr"
    status_path = meta_dir / "status.json"
    config = {
        "argv": request.argv,
        "cwd": str(request.cwd),
        "env": env,
        "stdout": str(stdout),
        "stderr": str(stderr),
        "status": str(status_path),
        "timeout": request.timeout_s,
        "grace": KILL_GRACE_S,
        "output_cap": limits.output_bytes,
        "max_procs": limits.processes,
        "rlimits": _rlimits(limits),
    }
    config_path = meta_dir / "supervise.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    prefix = namespace_prefix()
    argv = [*prefix, sys.executable, "-I", "-S", str(SUPERVISOR), str(config_path)]
    started = time.monotonic()
    with open(meta_dir / "supervisor.log", "wb") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )
    with _ACTIVE_LOCK:
        _ACTIVE.add(proc)
    hard_deadline = request.timeout_s + KILL_GRACE_S + HARD_MARGIN_S
    forced = False
    try:
        proc.wait(timeout=hard_deadline)
    except subprocess.TimeoutExpired:
        forced = True
        proc.kill()  # with a PID namespace this kills every process of the run
        proc.wait()
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.discard(proc)
    wall = time.monotonic() - started
    killed_from_outside = proc.returncode != 0
    swept = 0 if prefix and not (forced or killed_from_outside) else sweep_marked(token)
    status: dict[str, object] = {}
    try:
        status = json.loads(status_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        status = {}
    out, out_cut = read_capped(stdout, limits.output_bytes or 1 << 20)
    err, err_cut = read_capped(stderr, limits.output_bytes or 1 << 20)
    stopped = status.get("stopped")
    if not status:
        # the supervisor itself died (killed by the student, or by us at the hard deadline)
        stopped = "timeout" if forced else "killed"
    returncode = status.get("returncode")
    sig = status.get("signal")
    return RunOutcome(
        returncode=returncode if isinstance(returncode, int) else None,
        signal=sig if isinstance(sig, int) else None,
        timed_out=stopped == "timeout",
        duration_s=float(status.get("duration_s", wall)),  # type: ignore[arg-type]
        stdout=out,
        stderr=err,
        stdout_truncated=out_cut,
        stderr_truncated=err_cut,
        stopped=stopped if isinstance(stopped, str) else None,
        leftovers=int(status.get("leftovers", 0)) + swept,  # type: ignore[call-overload]
        isolation=isolation_layers(),
    )
