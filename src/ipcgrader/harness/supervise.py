"""Supervisor of one student run. Standard library only; started by :mod:`ipcgrader.sandbox`
as ``python -I -S`` importing this module from its folder (from cached bytecode), with its
configuration :mod:`marshal`-ed on stdin, in a PID namespace of its own where the host
allows it (then it is PID 1 there: no process of the run can signal it, and its exit kills
every process of the run). Every run starts one: its imports are kept few (no json, no
contextlib: each costs milliseconds of CPU per run).

It starts the student's command in a process group of its own, without capabilities and with
rlimits, stdin at end of file and stdout/stderr on pipes that only it reads. It enforces the
wall timeout, the output cap and the process cap, and when the main process has exited (or
the run is stopped) kills whatever is left: outside a namespace it is a child subreaper, so
orphans (a grandchild that called ``setsid``, say) are re-parented to it and found.

It also judges hangs as they happen. A run whose every live process sleeps in an untimed
wait the harness traces (a lock, a join, a queue, a pipe, an Event, a Condition, a
Barrier: each process publishes those on its wait board, see ``_ipcgrader_trace``; a
Manager's server is a service that acts only on requests), unchanged across two samples,
can never wake up:
it is stopped at once as ``deadlock``. A run stuck but for poll amplification's holds
(a queue or pipe item held until a taker asks, which nobody can now) is told to let the
items go instead (:func:`let_go`), and sampled afresh. A run that keeps computing is stopped as
``cpu_budget`` once all its processes together (the dead ones too) used up its CPU budget:
the student's own work, plus a start-up allowance for each interpreter the run started
afresh (``run_budget``). The wall timeout stays, as the last resort.

It answers on its own stdout, which no student process holds, with two marshal records: a
dict naming the student's main process (written at once, for the grader to kill its process
group should the supervisor die), then a tuple of how the run ended and the kept stdout and
stderr bytes. Nothing a student writes to a file can forge that answer.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import resource
import select
import sys
import time

TYPE_CHECKING = False  # not typing's: importing typing would slow every run's start
if TYPE_CHECKING:
    import signal
    from collections.abc import Callable
else:
    # the C module under ``signal``, same functions and numbers: signal's enums cost every
    # run milliseconds to import
    import _signal as signal

try:
    from . import confine
except ImportError:  # imported from its own folder, as the sandbox does: confine is beside us
    import confine  # type: ignore[import-not-found, no-redef]

POLL_S = 0.02
F_SETPIPE_SZ = 1031
#: After the main process exits, how long the rest may take to exit by themselves
#: (multiprocessing's resource tracker does so a moment later) before they count as left over.
LINGER_S = 1.0
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Python ignores these; exec keeps ignored signals ignored, so the student gets defaults back.
_RESET_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, *_STOP_SIGNALS)


def _quietly(call: Callable[..., object], *args: int) -> None:
    """``call(*args)``, ignoring OSError (a process that is gone, a pipe size refused)."""
    # not contextlib.suppress: importing contextlib costs every run milliseconds
    try:  # noqa: SIM105
        call(*args)
    except OSError:
        pass


def _stat(pid: int | str) -> list[bytes]:
    """Fields of /proc/PID/stat after the command name (state, ppid, ...); [] if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return []
    return data[data.rfind(b")") + 2 :].split()  # the name may hold spaces and ')'


def run_processes(me: int) -> list[int]:
    """Every process of the run but the supervisor (zombies included: they hold a pid).

    As PID 1 of the run's own namespace that is simply everything /proc shows."""
    entries = [e for e in os.listdir("/proc") if e.isdigit()]
    if me == 1:
        return [int(e) for e in entries if e != "1"]
    children: dict[int, list[int]] = {}
    for entry in entries:
        fields = _stat(entry)
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    frontier = [me]
    while frontier:
        for child in children.get(frontier.pop(), ()):
            found.append(child)
            frontier.append(child)
    return found


def students(me: int, helpers: set[int]) -> list[int]:
    """The processes of the run but the supervisor and the warm runner's ``helpers``."""
    return [pid for pid in run_processes(me) if pid not in helpers]


#: Processes multiprocessing starts for itself; they end on their own when the main process
#: has gone (a loaded machine may take a while), so they never count as left running.
_HELPERS = (b"multiprocessing.resource_tracker", b"multiprocessing.forkserver")


def _is_helper(pid: int) -> bool | None:
    """Whether ``pid`` is one of multiprocessing's helpers; None if it is gone.

    A helper is told by its command line, and a fork child has its parent's: every process
    the forkserver starts for the student (a fork of it) has the forkserver's. Such a child
    is the student's, not a helper: left out, a main process that joins one that computes
    was judged deadlocked. So a process whose parent has the same command line is not one."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read()
    except OSError:
        return None
    if not any(h in command for h in _HELPERS):
        return False
    fields = _stat(pid)
    if len(fields) < 2:
        return None
    return _read(f"/proc/{int(fields[1])}/cmdline") != command


def left_running(pids: list[int]) -> int:
    """How many of ``pids`` are live processes of the student's, not helpers or zombies."""
    count = 0
    for pid in pids:
        helper = _is_helper(pid)
        state = _stat(pid)[:1]
        if helper is False and state and state != [b"Z"]:
            count += 1
    return count


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


#: Layout of a wait board (``_ipcgrader_trace``): slots of this many bytes.
BOARD_SLOT = 64
#: How long a run must stay stuck, unchanged, before it counts as deadlocked: two samples
#: at least this far apart.
CONFIRM_S = 0.05
#: How often a run is checked for a deadlock and against its CPU budget (each check reads
#: a few /proc files per process: cheap, but every run pays it).
HANG_CHECK_S = 0.05


def _board_of(
    pid: int,
    start: bytes,
    waits: str,
    looks: dict[tuple[int, bytes], int] | None = None,
    holds: dict[int, list[bytes]] | None = None,
) -> dict[bytes, bytes] | None:
    """Thread id -> mark (``w`` waiting, ``h`` helper, ``o`` watching, ``d`` holding an
    item) from ``pid``'s wait board, and ``b"!"`` -> its flags (``s``: a service); None when
    it has none, it is another process's (a reused pid), or it set a timer. A watching
    thread's count of looks goes into ``looks``, not into the marks (it is no change of the
    board); the items a thread holds into ``holds`` (pid -> its start time, then the items)."""
    board = _read(f"{waits}/{pid}")
    if board is None:
        return None
    header = board[:BOARD_SLOT].split()
    if len(header) != 3 or header[0] != start or header[2] not in (b"-", b"s"):
        return None
    marks: dict[bytes, bytes] = {}
    for offset in range(BOARD_SLOT, len(board), BOARD_SLOT):
        parts = board[offset : offset + BOARD_SLOT].split()
        if len(parts) == 2:
            marks[parts[0]] = parts[1]
        elif len(parts) == 3 and parts[1] == b"o" and parts[2].isdigit():
            marks[parts[0]] = parts[1]
            if looks is not None:
                looks[(pid, parts[0])] = int(parts[2])
        elif len(parts) == 3 and parts[1] == b"d" and parts[2].isdigit():
            marks[parts[0]] = parts[1]  # which item: the board's change counter tells
            if holds is not None:
                holds.setdefault(pid, [start]).append(parts[2])
    marks[b""] = header[1]  # its change counter, part of the snapshot
    marks[b"!"] = header[2]
    return marks


def stuck_snapshot(
    pids: list[int],
    waits: str,
    looks: dict[tuple[int, bytes], int] | None = None,
    holds: dict[int, list[bytes]] | None = None,
) -> tuple[object, ...] | None:
    """What every live process of the run is blocked in, when each one is; else None.

    A process is stuck when every one of its threads sleeps (state S) and is on its board:
    in an untimed traced wait, or a queue feeder thread; or a service (a Manager's
    server) whose every thread only serves requests. A thread that watches (``o``: an
    exercise driver's polling loop that only other processes can end) counts as waiting
    whatever it is doing at the sample; its looks go into ``looks``, and a deadlock needs
    two more of them after the first sample (it saw the others as they stay). Such a
    process can only be woken by another process of the run; when all are stuck, none
    ever will be. Anything else (a process running or runnable, in a sleep or a wait with
    a timeout, in a call the harness does not trace, not Python, with a timer set) is a
    process that may still make progress: no snapshot. Two equal snapshots, including
    every thread's scheduler statistics (it did not run in between), confirm a deadlock,
    unless a thread holds an item (``d``, poll amplification: it polls until a taker asks,
    so it counts as waiting whatever it is doing, like a watching one): its hold ends by
    itself, and its items go into ``holds`` for :func:`let_go` instead.
    """
    live: list[tuple[int, list[bytes]]] = []
    for pid in pids:  # cheap first pass: one read per process
        fields = _stat(pid)
        if not fields or fields[0] == b"Z":
            continue  # gone, or dead and not yet waited for
        # running: only a watching thread may be (each thread's state is read below)
        if fields[0] not in (b"S", b"R") or len(fields) < 20:
            return None
        live.append((pid, fields))
    found: list[object] = []
    for pid, fields in sorted(live):
        helper = _is_helper(pid)
        if helper:
            continue  # waits for requests from the others
        marks = _board_of(pid, fields[19], waits, looks, holds) if helper is False else None
        if marks is None:
            return None
        try:
            threads = sorted(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            return None
        waiting = marks[b"!"] == b"s"  # a service needs no waiting thread of its own
        scheduled: list[bytes | None] = []
        for tid in threads:
            mark = marks.get(tid.encode())
            # runs now and then to look (or, holding, to see whether a taker asked): its
            # looks tell, or the board's change counter, not its state
            if mark in (b"o", b"d"):
                waiting = True
                scheduled.append(None)
                continue
            state = _stat(f"{pid}/task/{tid}")[:1]
            if mark is None or state != [b"S"]:
                return None
            waiting = waiting or mark == b"w"
            scheduled.append(_read(f"/proc/{pid}/task/{tid}/schedstat"))
        if not waiting:
            return None
        found.append((pid, sorted(marks.items()), scheduled))
    return tuple(found) or None


def describe_stuck(
    snapshot: tuple[object, ...],
    first: dict[tuple[int, bytes], int],
    last: dict[tuple[int, bytes], int],
    apart: float,
) -> str:
    """What a confirmed deadlock was judged on, one line: each process's board (its change
    counter, flags, each thread's mark, a watching thread's looks at the first sample and
    at the last) and how far apart the samples were. Kept with the run's outcome, so that
    a stop that should not have been (a verdict that flips) can be told from its evidence:
    it happens rarely, and never again on demand."""
    parts = []
    for entry in snapshot:  # (pid, sorted board marks, each thread's schedstat)
        pid: int = entry[0]  # type: ignore[index]
        marks: list[tuple[bytes, bytes]] = entry[1]  # type: ignore[index]
        board = dict(marks)
        threads = []
        for tid, mark in marks:
            if tid in (b"", b"!"):
                continue
            text = f"{tid.decode(errors='replace')} {mark.decode(errors='replace')}"
            if (pid, tid) in last:
                text += f" (looks {first.get((pid, tid), 0)}->{last[(pid, tid)]})"
            threads.append(text)
        changes = board.get(b"", b"?").decode(errors="replace")
        flags = board.get(b"!", b"?").decode(errors="replace")
        parts.append(f"{pid} [{changes} {flags}]: {', '.join(threads)}")
    return f"{'; '.join(parts)} (samples {apart:.3f} s apart)"


def let_go(waits: str, holds: dict[int, list[bytes]]) -> None:
    """Tell each process of ``holds`` to let the items it holds go now: ``go.<pid>`` beside
    the boards, with its start time and the items (``_ipcgrader_trace.let_go``).

    Called when a stuck snapshot is confirmed but for those holds. A hold lasts only while
    no taker has asked for the item; every other thread of the run is stuck in an untimed
    traced wait (none of them a taker that asked there, or the item would have passed), so
    nobody can ask before the hold runs out by itself, and letting the item go now changes
    nothing any process can see: it depends on the wait state alone, never on time.

    The folder is the run's: a name there may be a student's symbolic link. The answer is
    made under a name of ours (O_EXCL, O_NOFOLLOW: never through a link) and renamed over
    the entry, which replaces the entry, never what it points at."""
    for pid, (start, *items) in holds.items():
        made = f"{waits}/.go.{pid}"
        try:
            if os.path.lexists(made):
                os.unlink(made)
            fd = os.open(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            try:
                os.write(fd, b" ".join([start, *items]))
            finally:
                os.close(fd)
            os.rename(made, f"{waits}/go.{pid}")
        except OSError:
            continue  # the hold then runs out by itself, as before


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _threads_cpu_s(pid: int) -> float:
    """CPU seconds of ``pid``'s live threads, to the nanosecond (``schedstat``); 0 where
    /proc does not say."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    total = 0
    for tid in threads:
        data = _read(f"/proc/{pid}/task/{tid}/schedstat")
        if data:
            try:  # noqa: SIM105 - no contextlib: every run's start-up would pay for it
                total += int(data.split()[0])
            except (IndexError, ValueError):
                pass
    return total / 1e9


def run_cpu_s(pids: list[int]) -> float:
    """CPU seconds used by every process of the run so far, the ended ones included: ours
    to wait for (we are their reaper) in our children's usage, the others' in the usage
    of the live parent that waited for them (cutime, cstime).

    A live process's own time is in clock ticks in ``stat``, each of its user and system
    times cut to the tick below (up to 20 ms a process, which a spinning run would use
    past its budget); its live threads' ``schedstat`` is exact, but leaves out the
    threads that ended: the larger of the two."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # first: a process waited for
    used = 0.0  # between the two reads is missed, never counted twice
    for pid in pids:
        fields = _stat(pid)
        if len(fields) > 14:
            own = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
            waited = (int(fields[13]) + int(fields[14])) / _CLOCK_TICKS
            used += max(own, _threads_cpu_s(pid)) + waited
    return usage.ru_utime + usage.ru_stime + used


def run_budget(budget: float, credit: float, fresh: int) -> float:
    """The CPU budget of a run that started ``fresh`` interpreters afresh (exec'd, not
    forked: a cold run's main process, a spawn child not made by a warm template): the
    spec's ``budget`` is the student's own work, and each such start-up is allowed the
    ``credit`` seconds an interpreter of the run spends starting, on top (to the hundredth
    below). A warm run that starts none is held to ``budget`` itself."""
    allowed = max(0.0, credit) * max(0, fresh)
    return int(round((budget + allowed) * 100, 6)) / 100


def _cmdline(pid: int) -> bytes:
    """``pid``'s command line; empty if it is gone or a zombie."""
    return _read(f"/proc/{pid}/cmdline") or b""


class FreshCount:
    """The interpreters a run started afresh, as the supervisor sees its processes: each
    whose command line is neither the main program's nor ours (a fork child shares its
    parent's, and a cold run's main process has ours until its exec; an exec'd one, such as
    a cold spawn child or multiprocessing's resource tracker, has its own), counted once;
    and a cold run's main process. A child that starts and ends between two looks is
    missed: the budget's margin covers it."""

    def __init__(self, main: bytes, cold_main: bool) -> None:
        self.forked = {main, _cmdline(os.getpid())}
        self.cold_main = cold_main
        self.seen: set[tuple[int, bytes]] = set()

    def look(self, pids: list[int]) -> int:
        """Note the fresh ones among ``pids``; return how many the run started so far."""
        counted = {pid for pid, _ in self.seen}
        for pid in pids:
            if pid in counted:
                continue
            command = _cmdline(pid)
            if command and command not in self.forked:
                start = _stat(pid)[19:20]  # with its start time: a pid may be reused
                if start:
                    self.seen.add((pid, start[0]))
        return len(self.seen) + int(self.cold_main)


class Capture:
    """One output stream of the run: the first ``cap`` bytes and the last ``cap // 2``."""

    def __init__(self, fd: int, cap: int) -> None:
        self.fd: int | None = fd
        self.cap = max(cap, 2)
        self.total = 0
        self.head = bytearray()
        self.tail = bytearray()
        os.set_blocking(fd, False)
        # Room for a poll interval's worth of output: then we need not wake up (and preempt
        # the writer, reordering concurrent lines) at every write.
        _quietly(fcntl.fcntl, fd, F_SETPIPE_SZ, 1 << 20)

    def pump(self) -> None:
        """Read what is there now; close on end of file."""
        while self.fd is not None:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                os.close(self.fd)
                self.fd = None
                return
            self.total += len(data)
            room = self.cap - len(self.head)
            if room > 0:
                self.head += data[:room]
                data = data[room:]
            if data:
                self.tail += data
                if len(self.tail) > self.cap:
                    del self.tail[: len(self.tail) - self.cap // 2]

    def kept(self) -> bytes:
        """All of it when under the cap; else its first and last ``cap // 2`` bytes."""
        if self.total <= self.cap:
            return bytes(self.head)
        whole = bytes(self.head) + bytes(self.tail)
        half = self.cap // 2
        return whole[:half] + whole[-half:]


class BecomeMain(BaseException):
    """Raised in the student's main process of a warm run (``config["warm"]``), confined
    like an exec'd one, instead of exec: it unwinds to the warm interpreter's top level
    (``zygote.py``), which then runs the student's program in this very process."""


def confine_child(
    config: dict[str, object], out_w: int, err_w: int, keep: tuple[int, ...] = ()
) -> None:
    """In the forked child, before any student code: own process group, rlimits, no
    capabilities, stdin at end of file, stdout and stderr on the capture pipes, the run's
    folder, no other file descriptor."""
    signal.set_wakeup_fd(-1)
    for sig in _RESET_SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    os.setpgid(0, 0)  # a killpg of its own group cannot reach the supervisor
    for name, value in dict(config.get("rlimits") or {}).items():  # type: ignore[call-overload]
        soft = int(value)
        # the soft CPU limit sends SIGXCPU (a clear status), the hard one SIGKILL
        hard = soft + 1 if name == "RLIMIT_CPU" else soft
        resource.setrlimit(getattr(resource, name), (soft, hard))
    confine.drop_privileges()
    if config.get("uid") is not None:
        os.setgroups([])
        gid, uid = int(config["gid"]), int(config["uid"])  # type: ignore[call-overload]
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # root changing uid loses every capability too
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.chdir(str(config["cwd"]))
    low = 3
    for fd in sorted(keep):  # the warm runner's pipes (start_child)
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 1 << 16)


def start_child(
    config: dict[str, object], out_w: int, err_w: int
) -> tuple[int, set[int], int | None]:
    """Fork and exec the student's command; return its pid, the pids of the run's
    processes that are not the student's, and the pipe on which its spawn template says
    the pid of each resource tracker it makes (None: no template). In a warm run the
    child raises :class:`BecomeMain` instead of exec; with ``spawn_template``, it makes
    its spawn template first (``spawner.py``) and says its pid on that pipe."""
    report_r = report_w = None
    if config.get("warm") and config.get("spawn_template"):
        report_r, report_w = os.pipe()
    pid = os.fork()
    if pid:
        return pid, *_template_of(report_r, report_w)
    try:
        confine_child(config, out_w, err_w, () if report_w is None else (report_w,))
        if config.get("warm"):
            config["template_fd"] = report_w
            raise BecomeMain
        argv = [str(a) for a in config["argv"]]  # type: ignore[attr-defined]
        env = {str(k): str(v) for k, v in dict(config["env"]).items()}  # type: ignore[call-overload]
        os.execve(argv[0], argv, env)
    except BecomeMain:
        raise
    except BaseException as exc:  # report anything, then die
        try:
            os.write(2, f"ipcgrader supervisor: cannot start the run: {exc}\n".encode())
        finally:
            os._exit(127)
    raise AssertionError("unreachable")


def _template_of(report_r: int | None, report_w: int | None) -> tuple[set[int], int | None]:
    """The pid the student's main process reports for its template (written before any
    student code runs: the student cannot forge it), and the pipe, now non-blocking, on
    which the template goes on saying the trackers it makes (:func:`_trackers`)."""
    if report_r is None or report_w is None:
        return set(), None
    os.close(report_w)
    data = b""
    try:  # a line; the end of file if the main process died first (the template with it)
        while b"\n" not in data and len(data) <= 32:
            chunk = os.read(report_r, 32)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    os.set_blocking(report_r, False)
    said = data.split(b"\n")
    template = {int(said[0])} if said[0].strip().isdigit() and int(said[0]) > 0 else set()
    return template | _pids_in(said[1:]), report_r


def _pids_in(lines: list[bytes]) -> set[int]:
    return {int(line) for line in lines if line.strip().isdigit() and int(line) > 0}


def _trackers(report: int, pending: bytearray) -> set[int]:
    """The resource trackers the template says it made since the last look (each a line
    on ``report``; ``pending`` keeps a line not yet whole)."""
    while True:
        try:
            data = os.read(report, 4096)
        except OSError:  # nothing more for now
            break
        if not data:
            break
        pending += data
    *lines, rest = bytes(pending).split(b"\n")
    pending[:] = rest
    return _pids_in(lines)


def reap(main_pid: int, state: dict[str, float | None]) -> None:
    """Collect every exited child (orphans are ours too); remember the main one's status
    and the CPU time it used."""
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == main_pid:
            state["status"] = status
            state["cpu_s"] = usage.ru_utime + usage.ru_stime


def _signal_all(me: int, main_pid: int, pids: list[int], sig: int) -> None:
    """Signal every process of the run. Each call that takes a whole set at once (all of a
    namespace, all of the student's process group) leaves no gap that a fork could use."""
    if me == 1:  # everything in the namespace but us
        _quietly(os.kill, -1, sig)
        return
    _quietly(os.killpg, main_pid, sig)  # the group outlives its leader: its id stays reserved
    for pid in pids:  # and the ones that left the group (setsid, setpgid)
        _quietly(os.kill, pid, sig)


def kill_all(me: int, main_pid: int, state: dict[str, float | None], grace: float) -> None:
    """TERM (when ``grace`` > 0), then KILL every process of the run."""
    first = run_processes(me)
    if not first:
        return
    if grace > 0:
        _signal_all(me, main_pid, first, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            reap(main_pid, state)
            if not run_processes(me):
                break
            time.sleep(POLL_S / 2)
    for _ in range(200):
        reap(main_pid, state)
        alive = run_processes(me)
        if not alive:
            break
        _signal_all(me, main_pid, alive, signal.SIGSTOP)  # freeze: nothing forks while we kill
        _signal_all(me, main_pid, alive, signal.SIGKILL)
        time.sleep(0.002)
    reap(main_pid, state)


def supervise(config: dict[str, object]) -> tuple[dict[str, object], list[Capture]]:
    """Make the run; return its status and the captured output."""
    me = os.getpid()
    subreaper = me == 1 or confine.prctl(confine.PR_SET_CHILD_SUBREAPER, 1)
    # no process of the same user may ptrace us or open our file descriptors
    confine.prctl(confine.PR_SET_DUMPABLE, 0)
    realtime = confine.raise_priority()
    if config.get("view"):
        try:
            from . import fsview
        except ImportError:  # imported from its own folder, as the sandbox does
            import fsview  # type: ignore[import-not-found, no-redef]
        fsview.enter(str(config["view_root"]), list(config["view"]))  # type: ignore[call-overload]
    if config.get("loopback"):
        confine.loopback_up()
    timeout = float(config["timeout"])  # type: ignore[arg-type]
    grace = float(config.get("grace", 0.2))  # type: ignore[arg-type]
    cap = int(config.get("output_cap", 1 << 20))  # type: ignore[call-overload]
    max_procs = int(config.get("max_procs", 1 << 30))  # type: ignore[call-overload]
    waits = str(config.get("waits") or "")
    budget = config.get("cpu_budget")
    work_budget = float(budget) if isinstance(budget, (int, float)) else None
    # each interpreter the run starts afresh may spend this much starting (run_budget)
    credit = config.get("cpu_credit")
    startup_credit = float(credit) if isinstance(credit, (int, float)) else 0.0
    warm = bool(config.get("warm"))
    if warm:  # the student's main process is forked from the warm interpreter, as we are
        main_command = _cmdline(me)
    else:
        argv = config["argv"]
        main_command = b"".join(str(a).encode() + b"\0" for a in argv)  # type: ignore[attr-defined]
    fresh = FreshCount(main_command, cold_main=not warm)
    cpu_budget = work_budget
    if work_budget is not None:
        cpu_budget = run_budget(work_budget, startup_credit, fresh.look([]))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    stop_signal: list[int] = []
    if me != 1:  # as PID 1 we leave them unhandled: then nobody inside can signal us
        for sig in _STOP_SIGNALS:
            signal.signal(sig, lambda number, _frame: stop_signal.append(number))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started = time.monotonic()
    main_pid, helpers, report = start_child(config, out_w, err_w)
    pending = bytearray()
    # First record of the answer: should we die before the end, the grader can still kill
    # the student's process group (outside a namespace its id is this pid).
    os.write(1, marshal.dumps({"child": main_pid, "pid1": me == 1}))
    os.close(out_w)
    os.close(err_w)
    captures = [Capture(out_r, cap), Capture(err_r, cap)]
    state: dict[str, float | None] = {"status": None, "cpu_s": None}
    deadline = float(config.get("deadline", started + timeout))  # type: ignore[arg-type]
    stopped: str | None = None
    duration: float | None = None
    linger_until: float | None = None
    peak, next_count, next_hang_check = 1, 0.0, 0.0
    stuck: tuple[object, ...] | None = None
    stuck_since = 0.0
    #: each watching thread's looks at the first of the samples that are alike
    stuck_looks: dict[tuple[int, bytes], int] = {}
    seen_stuck: str | None = None
    stopped_t: float | None = None
    used = 0.0
    last_used = (started, 0.0)
    while True:
        now = time.monotonic()
        if duration is None and now >= deadline:
            stopped, stopped_t = "timeout", now
            break
        if linger_until is not None and (now >= linger_until or not students(me, helpers)):
            break
        # Only SIGCHLD wakes us early; output is collected at each poll.
        wait = min(POLL_S, deadline - now)
        if duration is None:
            wait = min(wait, next_hang_check - now)
        ready, _, _ = select.select([wake_r], [], [], max(0.0, wait))
        if wake_r in ready:
            _quietly(os.read, wake_r, 512)
        for capture in captures:
            capture.pump()
        if any(c.total > cap for c in captures):
            stopped = "output"
            break
        if stop_signal:
            stopped = "killed"
            break
        reap(main_pid, state)
        now = time.monotonic()
        if state["status"] is not None and duration is None:
            duration = now - started
            linger_until = min(now + LINGER_S, deadline)
        if now >= next_count or (duration is None and now >= next_hang_check):
            if report is not None:  # made by the template: multiprocessing's, not theirs
                helpers |= _trackers(report, pending)
            pids = students(me, helpers)
            peak = max(peak, len(pids))
            if len(pids) > max_procs:
                stopped = "processes"
                break
            if work_budget is not None and duration is None:
                # at every look, not only at hang checks: a spawn child lives briefly
                cpu_budget = run_budget(work_budget, startup_credit, fresh.look(pids))
            if duration is None and now >= next_hang_check:
                next_hang_check = now + HANG_CHECK_S
                if cpu_budget is not None:
                    used = run_cpu_s(pids)
                    if used > cpu_budget:
                        stopped, stopped_t = "cpu_budget", now
                        break
                    # at the rate it used CPU since the last check, look again when the
                    # budget will be used up if sooner: a spinning run is stopped near its
                    # budget, not up to HANG_CHECK_S of all its cores past it
                    rate = (used - last_used[1]) / max(now - last_used[0], 1e-3)
                    if rate > 0:
                        soon = max(POLL_S / 4, (cpu_budget - used) / rate)
                        next_hang_check = min(next_hang_check, now + soon)
                    last_used = (now, used)
                looks: dict[tuple[int, bytes], int] = {}
                holds: dict[int, list[bytes]] = {}
                snapshot = stuck_snapshot(pids, waits, looks, holds) if waits else None
                if snapshot is None or snapshot != stuck:
                    stuck, stuck_since, stuck_looks = snapshot, now, looks
                elif now - stuck_since >= CONFIRM_S and all(
                    looks.get(thread, 0) >= seen + 2 for thread, seen in stuck_looks.items()
                ):
                    if not holds:
                        stopped, stopped_t = "deadlock", now
                        seen_stuck = describe_stuck(snapshot, stuck_looks, looks, now - stuck_since)
                        break
                    # stuck but for holds that would run out by themselves: they end now,
                    # and what follows is sampled afresh (a deadlock behind them, too)
                    let_go(waits, holds)
                    stuck = None
            # cheap as PID 1 (our own /proc); a walk of the host's /proc otherwise
            next_count = now + (POLL_S if me == 1 else 5 * POLL_S)
    if duration is None:
        duration = time.monotonic() - started
    reap(main_pid, state)
    if report is not None:
        helpers |= _trackers(report, pending)
        _quietly(os.close, report)
    leftovers = left_running(students(me, helpers)) if stopped is None else 0
    kill_all(me, main_pid, state, grace if stopped else 0.0)
    for capture in captures:  # every writer is gone: read to the end
        capture.pump()
    status = state["status"]
    result: dict[str, object] = {
        "returncode": None,
        "signal": None,
        "stopped": stopped,
        "duration_s": duration,
        "leftovers": leftovers,
        "peak_processes": peak,
        "subreaper": subreaper,
        "pid1": me == 1,
        "realtime": realtime,
        "stdout_total": captures[0].total,
        "stderr_total": captures[1].total,
        "cpu_s": state["cpu_s"],
        # when it was decided to stop the run (monotonic, the trace's clock)
        "stopped_t": stopped_t,
        # a deadlock: what the two samples that confirmed it saw (describe_stuck)
        "stuck": seen_stuck,
        # every process of the run is gone and waited for: all their CPU is ours now (unless
        # another uid's processes could not be signalled, and the namespace ends them)
        "run_cpu_s": max(run_cpu_s([]), used),
        # the budget it was held to: the spec's, plus the fresh start-ups' (run_budget)
        "cpu_budget": cpu_budget,
    }
    if status is not None:
        status = int(status)
        if os.WIFEXITED(status):
            result["returncode"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
    return result, captures


def write_answer(result: dict[str, object], captures: list[Capture]) -> None:
    """The answer's last record, on stdout: how the run ended, the kept stdout and stderr."""
    with open(1, "wb", closefd=False) as out:
        out.write(marshal.dumps((result, captures[0].kept(), captures[1].kept())))


def main() -> int:
    """Read the configuration from stdin, run, answer on stdout."""
    config = marshal.loads(sys.stdin.buffer.read())
    result, captures = supervise(config)
    write_answer(result, captures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
