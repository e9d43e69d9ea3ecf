"""Warm runs: the grader's side of ``harness/zygote.py``.

A cold run starts two interpreters (the supervisor, then the student's program with the
harness), about 50 ms of CPU before the student's first line. A :class:`WarmRunner` starts
one interpreter per grading (or per batch: the gradings of a local batch share one runner;
or per process: a Dask worker keeps one for its lifetime, :class:`KeptRunner`) that has
imported all of that once, and forks each run from it:
the run enters the same isolation (session, namespaces, the supervisor's limits, capture and
sweep, no capabilities) before any student code runs, and the student's program still sees
a plain ``python SCRIPT`` start (``__main__``, ``sys.argv``, spawn children that work).

A run is made warm only where that is exactly equivalent, and cold otherwise:

- the level is ``basic``, or ``namespaces`` with a root grader (a user namespace would have
  to be set up per run; bubblewrap builds its own view): other levels stay cold;
- the command is ``python SCRIPT [ARGS]`` with this interpreter;
- everything Python reads only at start-up (``PYTHON*``, ``LANG``, ``LC_*``, ``TZ``) is what
  the warm interpreter started with.

``IPCGRADER_WARM=0`` makes every run cold.
"""

from __future__ import annotations

import contextlib
import io
import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

ENV_VAR = "IPCGRADER_WARM"
#: Names of ``harness/zygote.py``'s protocol (it cannot import ipcgrader).
SOCKET_ENV = "IPCGRADER_ZYGOTE"
MARKER_SLOT = 48
#: How long the warm interpreter may take to start (it imports the harness and
#: multiprocessing) before runs go cold instead.
START_TIMEOUT_S = 10.0


def enabled() -> bool:
    """Whether warm runs are allowed (``IPCGRADER_WARM`` is not ``0``)."""
    return os.environ.get(ENV_VAR, "1").strip() != "0"


def _read_at_start(name: str) -> bool:
    """Whether Python reads the variable ``name`` only when it starts."""
    return name.startswith(("PYTHON", "LC_")) or name in ("LANG", "TZ")


def startup_key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """What of a run's environment its interpreter reads at start-up."""
    return tuple(sorted((k, v) for k, v in env.items() if _read_at_start(k)))


def _zygote_env(key: tuple[tuple[str, str], ...], env: dict[str, str]) -> dict[str, str]:
    """The environment a warm interpreter for runs starting with ``key`` starts with."""
    zygote_env = dict(key)
    zygote_env.update(PATH=env.get("PATH", "/usr/bin:/bin"), HOME="/")
    zygote_env["IPCGRADER_RUN"] = "0" * MARKER_SLOT
    return zygote_env


def _zygote_code(harness_dir: Path, call: str) -> str:
    """``python -c`` code that imports ``harness/zygote.py`` and calls ``call`` of it."""
    return (
        f"import sys; sys.path.insert(0, {str(harness_dir)!r}); import zygote; "
        f"del sys.path[0]; zygote.{call}()"
    )


_cold_startups: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
_cold_lock = threading.Lock()


def cold_startup_cpu(harness_dir: Path, env: dict[str, str]) -> float:
    """CPU seconds an interpreter of a run started with ``env`` spends starting (Python,
    the harness, multiprocessing): each one a cold run starts is allowed as much on top of
    its CPU budget (``supervise.run_budget``). Measured once per start-up environment in
    this process, by an interpreter that starts as a warm one does and says what it took
    (``zygote.measure``); 0.0 where it cannot be."""
    key = startup_key(env)
    with _cold_lock:
        known = _cold_startups.get((str(harness_dir), key))
        if known is not None:
            return known
        try:
            said = subprocess.run(
                [sys.executable, "-c", _zygote_code(harness_dir, "measure")],
                env={**_zygote_env(key, env), SOCKET_ENV: "-1"},
                cwd="/",
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=START_TIMEOUT_S,
                check=False,
            ).stdout
            measured = max(0.0, float(said.split()[0]))
        except (OSError, subprocess.SubprocessError, IndexError, ValueError):
            measured = 0.0
        _cold_startups[(str(harness_dir), key)] = measured
        return measured


def level_is_warm(level: str) -> bool:
    """Whether runs at ``level`` can be forked from a warm interpreter on this host: at
    ``basic``, and under a root grader at ``namespaces`` and ``bwrap`` (whose view the
    supervisor builds as at ``namespaces``); a user namespace would have to be mapped."""
    return level == "basic" or (level in ("namespaces", "bwrap") and os.geteuid() == 0)


class WarmRun:
    """One run forked by the zygote: its answer pipe and a handle to kill it."""

    def __init__(self, answer: int, pid: int, pidfd: int | None = None) -> None:
        self.answer = answer
        self.pid = pid
        self.pidfd = pidfd

    def kill(self) -> None:
        """Kill the run's leader; the supervisor, and in a namespace every process of the
        run, die with it."""
        with contextlib.suppress(OSError):
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            else:  # pragma: no cover - Linux before 5.3
                os.kill(self.pid, signal.SIGKILL)

    def finish(self, timeout: float) -> tuple[bytes, int | None, bool]:
        """Wait at most ``timeout`` seconds for the answer (then kill the run); return the
        supervisor's records, its exit status (None if unknown) and whether it was killed."""
        chunks: list[bytes] = []
        forced = False
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                ready = select.select([self.answer], [], [], max(0.0, left))[0] if left > 0 else []
                if not ready:
                    if forced:
                        break  # pragma: no cover - nothing else holds the pipe
                    forced = True
                    self.kill()
                    deadline = time.monotonic() + 2.0
                    continue
                data = os.read(self.answer, 1 << 16)
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(self.answer)
            if self.pidfd is not None:
                os.close(self.pidfd)
        answer, returncode = _split_trailer(b"".join(chunks))
        return answer, returncode, forced


def _split_trailer(answer: bytes) -> tuple[bytes, int | None]:
    """The supervisor's records, and the exit code from the leader's last record."""
    stream = io.BytesIO(answer)
    records: list[Any] = []
    while stream.tell() < len(answer):
        try:
            records.append(marshal.load(stream))
        except (EOFError, ValueError, TypeError):
            break
    returncode: int | None = None
    if records and isinstance(records[-1], dict) and set(records[-1]) == {"exit"}:
        status = records.pop()["exit"]
        if isinstance(status, int):
            returncode = os.waitstatus_to_exitcode(status)
    return b"".join(marshal.dumps(r) for r in records), returncode


class _Zygote:
    """One warm interpreter, started for one start-up environment, and its socket."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self.sock = sock
        #: whether it said it is ready (it is waited for at its first run, not at its start)
        self.ready = False
        #: CPU seconds its own start-up took, as it said (a cold interpreter's start-up)
        self.startup_cpu = 0.0
        #: runs it has made: a zygote that made some and then fails has died (killed from
        #: outside, out of memory), and another may be started in its place
        self.runs = 0

    def wait_ready(self) -> bool:
        """Wait for the zygote to have imported everything (at most ``START_TIMEOUT_S``)."""
        if not self.ready:
            try:
                said = self.sock.recv(64).split()
            except OSError:
                said = []
            self.ready = said[:1] == [b"ready"]
            try:
                self.startup_cpu = max(0.0, float(said[1]))
            except (IndexError, ValueError):
                self.startup_cpu = 0.0
        return self.ready

    def stop(self) -> None:
        """Close the socket; the zygote ends once every run it made has answered (one that
        made none, started ahead for a command that then failed, is not waited for)."""
        self.sock.close()
        if self.runs == 0:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WarmRunner:
    """The zygotes of one grading, or of every grading of a batch (each started at its
    first warm run, one per start-up environment) and how runs are asked of them.
    Thread-safe; use as a context manager, which stops the zygotes.

    Sharing one runner between gradings shares nothing between their runs: a zygote runs
    no student code, and every run is a fresh fork of it (``harness/zygote.py``)."""

    #: start-up environments with a zygote of their own at once; runs of another are cold
    MAX_ZYGOTES = 4

    def __init__(self, harness_dir: Path) -> None:
        self.harness_dir = harness_dir
        self._lock = threading.Lock()
        self._zygotes: dict[tuple[tuple[str, str], ...], _Zygote] = {}
        self._broken = not enabled()
        #: warm interpreters started, and runs forked, over the runner's life
        self.launched = 0
        self.forked = 0

    def __enter__(self) -> WarmRunner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def broken(self) -> bool:
        """Whether its runs are all cold from now on: closed, given up (a warm run failed
        before the student's program started), or a warm interpreter that did not start."""
        return self._broken

    def takes(self, argv: list[str], level: str) -> bool:
        """Whether the command ``argv`` at ``level`` may be made warm (see the module)."""
        return (
            not self._broken
            and level_is_warm(level)
            and len(argv) >= 2
            and argv[0] == sys.executable
            and not argv[1].startswith("-")
        )

    @staticmethod
    def level_of(level: str) -> str:
        """The level whose supervisor configuration a warm run at ``level`` gets: at
        ``bwrap`` the supervisor builds the view itself, as at ``namespaces``."""
        return "namespaces" if level == "bwrap" else level

    def give_up(self) -> None:
        """Make the remaining runs cold (a warm one could not be set up)."""
        with self._lock:
            self._broken = True

    def start(
        self, argv: list[str], config: dict[str, Any], level: str, log_fd: int
    ) -> WarmRun | None:
        """Fork the run ``config`` describes, at ``level``; None where it must be cold."""
        env: dict[str, str] = config["env"]
        if not self.takes(argv, level):
            return None
        answer_r, answer_w = os.pipe()
        try:
            with self._lock:
                key = startup_key(env)
                for _attempt in range(2):
                    zygote = self._zygote(key, env)
                    if zygote is None:
                        break
                    # what an interpreter spends starting: each one the run still starts
                    # afresh (not forked) is allowed as much on top of its CPU budget
                    config["cpu_credit"] = zygote.startup_cpu
                    payload = marshal.dumps({"config": config, "namespaces": level != "basic"})
                    try:
                        socket.send_fds(zygote.sock, [payload], [answer_w, log_fd])
                        data, fds, _, _ = socket.recv_fds(zygote.sock, 64, 1)
                        run = WarmRun(answer_r, int(marshal.loads(data)), *fds[:1])
                    except (OSError, EOFError, ValueError, TypeError):
                        # one that had made runs died since: start another, once
                        self._drop(key, broken=zygote.runs == 0)
                        continue
                    zygote.runs += 1
                    self.forked += 1
                    return run
        finally:
            os.close(answer_w)
        os.close(answer_r)
        return None

    def prestart(self, env: dict[str, str]) -> None:
        """Start the zygote of runs whose environment starts like ``env`` now, without
        waiting for it: it imports what runs need while the grader still loads."""
        with self._lock:
            key = startup_key(env)
            if not self._broken and key not in self._zygotes:
                self._launch(key, env)

    def _zygote(self, key: tuple[tuple[str, str], ...], env: dict[str, str]) -> _Zygote | None:
        """The zygote of runs starting with ``key`` (started now if need be), ready; None
        if they go cold."""
        if self._broken:
            return None
        zygote = self._zygotes.get(key) or self._launch(key, env)
        if zygote is None:
            return None
        if not zygote.wait_ready():
            self._drop(key, broken=True)
            return None
        return zygote

    def _launch(self, key: tuple[tuple[str, str], ...], env: dict[str, str]) -> _Zygote | None:
        """Start a zygote for ``key`` (not waiting for it); None if none may be started."""
        if len(self._zygotes) >= self.MAX_ZYGOTES:
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        zygote_env = {**_zygote_env(key, env), SOCKET_ENV: str(theirs.fileno())}
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", _zygote_code(self.harness_dir, "main")],
                env=zygote_env,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except OSError:
            ours.close()
            self._broken = True
            return None
        finally:
            theirs.close()
        ours.settimeout(START_TIMEOUT_S)
        self.launched += 1
        zygote = self._zygotes[key] = _Zygote(proc, ours)
        return zygote

    def _drop(self, key: tuple[tuple[str, str], ...], *, broken: bool) -> None:
        zygote = self._zygotes.pop(key, None)
        if zygote is not None:
            zygote.stop()
        self._broken = self._broken or broken

    def close(self) -> None:
        """Stop the zygotes (each ends once every run it made has answered)."""
        with self._lock:
            self._broken = True
            for key in list(self._zygotes):
                self._drop(key, broken=True)


class KeptRunner:
    """A warm runner kept for the life of a long-lived process (a Dask worker), shared by
    every grading made there, of any batch: its warm interpreters start once, not once per
    grading. Thread-safe.

    A runner that broke (:attr:`WarmRunner.broken`) is never trusted again: the next
    grading gets a new one, and the old one is closed once the last grading using it has
    ended. The warm interpreters also end with the process however it ends: each reads the
    grader's end of its socket, and a process that dies closes it (the interpreter ends once
    the runs it made have answered)."""

    def __init__(self, factory: Callable[[], WarmRunner]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._runner: WarmRunner | None = None
        #: gradings using each runner now (a retired runner is closed when it has none)
        self._users: dict[WarmRunner, int] = {}
        self._closed = False
        #: what it did over its life: runners made, gradings, warm interpreters started
        #: and runs forked by the runners it retired (the current one's are added on read)
        self._made = 0
        self._gradings = 0
        self._retired_launched = 0
        self._retired_forked = 0

    @contextlib.contextmanager
    def lease(self) -> Iterator[WarmRunner]:
        """The runner for one grading (a new one if there is none or it broke; once
        closed, one of the grading's own, closed when it ends)."""
        with self._lock:
            self._gradings += 1
            runner = self._runner
            if self._closed:
                runner = self._factory()
                own = True
            else:
                own = False
                if runner is None or (runner.broken and enabled()):
                    if runner is not None:
                        self._retire(runner)
                    runner = self._runner = self._factory()
                    self._made += 1
                self._users[runner] = self._users.get(runner, 0) + 1
        try:
            yield runner
        finally:
            if own:
                runner.close()
            else:
                with self._lock:
                    self._users[runner] -= 1
                    done = self._users[runner] == 0 and runner is not self._runner
                    if done:
                        del self._users[runner]
                if done:
                    runner.close()

    def _retire(self, runner: WarmRunner) -> None:
        """Count ``runner``'s work; close it now if no grading uses it (under the lock:
        closing a broken runner waits for nothing, its runs answer on their own pipes)."""
        self._retired_launched += runner.launched
        self._retired_forked += runner.forked
        if not self._users.get(runner):
            self._users.pop(runner, None)
            runner.close()

    def report(self) -> dict[str, int]:
        """Runners made, gradings made, warm interpreters started and runs forked, over
        this keeper's life."""
        with self._lock:
            current = self._runner
            launched = self._retired_launched + (current.launched if current else 0)
            forked = self._retired_forked + (current.forked if current else 0)
            return {
                "runners": self._made,
                "gradings": self._gradings,
                "launched": launched,
                "forked": forked,
            }

    def close(self) -> None:
        """Stop the warm interpreters (each ends once the runs it made have answered); the
        gradings that come after get a runner of their own."""
        with self._lock:
            self._closed = True
            runner, self._runner = self._runner, None
            if runner is not None:
                self._retired_launched += runner.launched
                self._retired_forked += runner.forked
        if runner is not None:
            runner.close()
