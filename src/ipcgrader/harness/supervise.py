"""Supervisor of one student run. Standard library only; run as ``python -I -S supervise.py
CONFIG.json`` by :mod:`ipcgrader.sandbox`, in a PID namespace of its own where the host
allows it (then it is PID 1 there, and its death kills every process of the run).

It becomes a child subreaper, so every orphan of the run (a grandchild that called
``setsid``, say) is re-parented to it and can be found and killed. It starts the student's
command in a process group of its own (a student ``killpg(0, ...)`` cannot hit the
supervisor), enforces the wall timeout, the output cap and the process cap, and when the
main process is gone kills whatever is left. It reports in a status JSON file.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
_WATCHED = {signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
POLL_S = 0.02


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def process_table() -> dict[int, int]:
    """pid -> ppid for every process this /proc shows."""
    table: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue
        # comm may hold spaces and parentheses: the fields after the last ')' are safe
        fields = data[data.rfind(b")") + 2 :].split()
        if len(fields) > 1 and fields[0] != b"Z":
            table[int(entry)] = int(fields[1])
    return table


def descendants(root: int) -> list[int]:
    """Live descendants of ``root`` (orphans are ours too: we are their subreaper)."""
    children: dict[int, list[int]] = {}
    for pid, ppid in process_table().items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    frontier = [root]
    while frontier:
        pid = frontier.pop()
        for child in children.get(pid, ()):
            found.append(child)
            frontier.append(child)
    return found


def reap(main_pid: int, state: dict[str, int | None]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == main_pid:
            state["status"] = status


def kill_all(me: int, main_pid: int, state: dict[str, int | None], grace: float) -> int:
    """TERM then KILL every descendant; return how many were alive at first."""
    first = descendants(me)
    if not first:
        return 0
    if grace > 0:
        for pid in first:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and descendants(me):
            signal.sigtimedwait([signal.SIGCHLD], POLL_S)
            reap(main_pid, state)
    for _ in range(50):
        alive = descendants(me)
        if not alive:
            break
        for pid in alive:
            _signal(pid, signal.SIGSTOP)  # freeze first, so nothing forks while we kill
        for pid in alive:
            _signal(pid, signal.SIGKILL)
        time.sleep(0.005)
        reap(main_pid, state)
    reap(main_pid, state)
    return len(first)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def start_child(config: dict[str, object]) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _WATCHED)
        os.setpgid(0, 0)
        for name, value in dict(config.get("rlimits") or {}).items():  # type: ignore[call-overload]
            limit = getattr(resource, name)
            resource.setrlimit(limit, (int(value), int(value)))
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, key in ((1, "stdout"), (2, "stderr")):
            out = os.open(str(config[key]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
        os.chdir(str(config["cwd"]))
        argv = [str(a) for a in config["argv"]]  # type: ignore[attr-defined]
        env = {str(k): str(v) for k, v in dict(config["env"]).items()}  # type: ignore[call-overload]
        os.execve(argv[0], argv, env)
    except BaseException as exc:  # report anything, then die
        try:
            os.write(2, f"ipcgrader supervisor: cannot start the run: {exc}\n".encode())
        finally:
            os._exit(127)
    raise AssertionError("unreachable")


def too_big(paths: list[str], cap: int) -> bool:
    for path in paths:
        try:
            if os.stat(path).st_size > cap:
                return True
        except OSError:
            pass
    return False


def supervise(config: dict[str, object]) -> dict[str, object]:
    me = os.getpid()
    subreaper = become_subreaper()
    signal.pthread_sigmask(signal.SIG_BLOCK, _WATCHED)
    timeout = float(config["timeout"])  # type: ignore[arg-type]
    grace = float(config.get("grace", 0.2))  # type: ignore[arg-type]
    cap = int(config.get("output_cap", 1 << 62))  # type: ignore[call-overload]
    max_procs = int(config.get("max_procs", 1 << 30))  # type: ignore[call-overload]
    outputs = [str(config["stdout"]), str(config["stderr"])]
    started = time.monotonic()
    main_pid = start_child(config)
    state: dict[str, int | None] = {"status": None}
    stopped: str | None = None
    peak = 1
    polls = 0
    while state["status"] is None:
        remaining = started + timeout - time.monotonic()
        if remaining <= 0:
            stopped = "timeout"
            break
        info = signal.sigtimedwait(list(_WATCHED), min(remaining, POLL_S))
        if info is not None and info.si_signo != signal.SIGCHLD:
            stopped = "killed"
            break
        reap(main_pid, state)
        if state["status"] is not None:
            break
        polls += 1
        if too_big(outputs, cap):
            stopped = "output"
            break
        if polls % 5 == 0 or info is None:
            count = len(descendants(me))
            peak = max(peak, count)
            if count > max_procs:
                stopped = "processes"
                break
    duration = time.monotonic() - started
    leftovers = kill_all(me, main_pid, state, grace if stopped else 0.0)
    status = state["status"]
    result: dict[str, object] = {
        "returncode": None,
        "signal": None,
        "stopped": stopped,
        "duration_s": duration,
        "leftovers": leftovers if stopped is None else 0,
        "peak_processes": peak,
        "subreaper": subreaper,
        "pid1": me == 1,
    }
    if status is not None:
        if os.WIFEXITED(status):
            result["returncode"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
    return result


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    result = supervise(config)
    tmp = str(config["status"]) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(tmp, str(config["status"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
