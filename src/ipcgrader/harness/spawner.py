"""Spawn children of a warm run, made from a clean copy of the interpreter instead of a new
one. Standard library only; part of the warm runner (``zygote.py``).

A spawn child is a new interpreter (``python -c 'from multiprocessing.spawn import
spawn_main; ...' --multiprocessing-fork``) that imports the harness and multiprocessing
before it reads what its parent sends: about 45 ms of CPU each, most of a spawn run's cost.
In a run the grader makes under ``spawn``, the student's main process therefore forks, before
any student code runs, a *template*: a copy of the warm interpreter as every new interpreter
of the run starts (nothing of the student's imported or run, the harness not installed).
When the main process starts a spawn child, the template makes it: a copy of itself whose
parent is the main process (``clone(2)`` with ``CLONE_PARENT``, so ``os.getppid()``,
``waitpid`` and the exit status are those of a child started by exec), given what exec
would have given it at that moment (the main process's file descriptors 0-2 and the passed
ones at their numbers, working folder, environment, umask, rlimits, ignored signals and
signal mask, niceness, CPU affinity), with ``sys.argv``, ``sys.orig_argv``, ``sys.path`` and
``__main__`` as ``python -c`` sets them; then the harness is installed and the command's
code runs. ``spawn_main`` itself then does everything as in a new interpreter: it reads the
preparation data, re-imports the main module as ``__mp_main__``, unpickles the process
object (an unpicklable target, a lost lock, a missing ``__main__`` guard fail the same way).

The main process asks the template only where that is exactly what exec would give; else
it spawns as usual:

- only the process that made the template (not its fork children, not spawn children);
- the command is ``spawn_main``'s or the resource tracker's, with this interpreter and its
  flags;
- the main process is still in the process group and session it started in, the variables
  Python reads at start-up (``PYTHON*``, ``LC_*``, ``LANG``, ``TZ``) are those the run
  started with, no hard rlimit is above the template's, the niceness not below it, and no
  folder the child's imports search (its working folder, the parent's ``sys.path``) has a
  file named like a module the warm interpreter imported beyond a cold start.

The template is a child of the main process in a process group of its own (a ``killpg`` of
the student's group does not reach it). It never ends while the main process runs and dies
with it (``PR_SET_PDEATHSIG``); waiting for any child (``os.wait()``, ``waitpid(-1)``...)
fails with ``ECHILD`` when it is the only child, as without it. The supervisor is told its
pid before any student code runs and leaves it out of the run's process count, its
leftovers and deadlock detection. What a spawn child can tell: the modules the warm
interpreter imported (as for a warm main process), and ``/proc/self/cmdline``, which is the
warm interpreter's.
"""

from __future__ import annotations

import ctypes
import marshal
import os
import resource
import signal
import socket
import sys
from _thread import allocate_lock, get_native_id

try:
    from . import confine
except ImportError:  # imported from its own folder, as the sandbox does
    import confine  # type: ignore[import-not-found, no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

#: clone(2)'s number and whether the child-tid pointer is its 4th argument (else its 5th:
#: the CLONE_BACKWARDS machines), per machine; elsewhere spawn children are new interpreters.
_CLONE = {"x86_64": (56, True), "aarch64": (220, False), "riscv64": (220, False)}
CLONE_PARENT = 0x00008000
CLONE_CHILD_CLEARTID = 0x00200000
CLONE_CHILD_SETTID = 0x01000000
#: What Python sets at start-up whatever the parent had (unless the parent ignored SIGINT).
_STARTUP_IGNORED = (signal.SIGPIPE, signal.SIGXFSZ)
_RLIMITS = sorted(getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_"))
_SPAWN_CODE = "from multiprocessing.spawn import spawn_main; spawn_main("
#: The resource tracker's command: the first lock, semaphore or spawn child of a run under
#: spawn starts it, a new interpreter too (~40 ms of CPU), made by the template as well.
_TRACKER_CODE = "from multiprocessing.resource_tracker import main;main("
#: How long a template-made child waits for its parent's turn (see :func:`open_gate`):
#: seconds of CPU the parent has had meanwhile, about what starting a new interpreter
#: takes, which is the head start a real spawn child gives its parent. Counted on the
#: parent's own clock, not the wall's: on a loaded machine a real spawn child starts as
#: late as the load makes it, while the parent gets no more CPU than it would have.
GATE_S = 0.1
#: A parent asleep (waiting for something, maybe this child) in this many looks in a row
#: has had its turn; one look may find it still waiting for the template's answer.
GATE_ASLEEP = 3
#: Seconds between looks at the parent, and the wall-clock bound of the whole wait (a
#: last resort: the parent kept off the CPU that long by load).
GATE_STEP_S, GATE_WALL_S = 0.005, 5.0
#: The write end of the gate, in the main process that made the template (-1: open).
_gate_w = -1
#: One byte of memory the main process, the template and its children share (anonymous,
#: mapped before the template is made, so no file descriptor): 1 while the main process
#: waits for the template's answer, a wait that is not its turn (_await_parents_turn).
_asking: Any = None


class Spawned(BaseException):
    """Raised in a spawn child made by the template, once it is set up as exec would have
    left it: unwinds to the warm interpreter's top level, which runs ``code`` as
    ``python -c`` would."""

    def __init__(self, code: str) -> None:
        super().__init__()
        self.code = code


def _libc(keep_gil: bool = False) -> ctypes.CDLL:
    # PyDLL holds the GIL across the call, as os.fork() does around fork(2)
    return (ctypes.PyDLL if keep_gil else ctypes.CDLL)(None, use_errno=True)


def _thread_self() -> int:
    libc = _libc()
    libc.pthread_self.restype = ctypes.c_void_p
    return int(libc.pthread_self() or 0)


def tid_offset() -> int | None:
    """Where the C library keeps the thread's id in its thread descriptor (fork(2) through
    the C library updates it in the child; a clone(2) must have the kernel write it there,
    or ``raise()`` in the child would signal its parent). Found as the one place that holds
    this thread's id here and the child's own in a forked child; None if not found."""
    if os.uname().machine not in _CLONE or not os.path.exists(
        f"/proc/self/task/{get_native_id()}/children"
    ):
        return None
    base, tid = _thread_self(), get_native_id()
    if not base:
        return None
    found = [k for k in range(0, 2048, 4) if ctypes.c_int.from_address(base + k).value == tid]
    if not found:
        return None
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        me = get_native_id()
        same = [k for k in found if ctypes.c_int.from_address(base + k).value == me]
        os.write(write, marshal.dumps(same))
        os._exit(0)
    os.close(write)
    try:
        data = os.read(read, 1 << 16)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    try:
        same = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
    return same[0] if isinstance(same, list) and len(same) == 1 else None


def _clone(flags: int, offset: int) -> int:
    """fork(2) as os.fork() makes it, with clone(2)'s ``flags``; -1 on failure."""
    number, fourth = _CLONE[os.uname().machine]
    libc = _libc(keep_gil=True)
    libc.syscall.restype = ctypes.c_long
    tid_at = ctypes.c_void_p(_thread_self() + offset)
    null = ctypes.c_void_p(0)
    args = (null, null, tid_at, null) if fourth else (null, null, null, tid_at)
    flags |= CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID
    api = ctypes.pythonapi
    api.PyOS_BeforeFork()
    pid = int(libc.syscall(ctypes.c_long(number), ctypes.c_ulong(flags), *args))
    if pid == 0:
        api.PyOS_AfterFork_Child()
    else:
        api.PyOS_AfterFork_Parent()
    return pid


def _startup(env: dict[str, str]) -> list[tuple[str, str]]:
    """What of an environment Python reads only at start-up (``warm.startup_key``)."""
    read = [(k, v) for k, v in env.items() if k.startswith(("PYTHON", "LC_"))]
    read += [(k, v) for k, v in env.items() if k in ("LANG", "TZ")]
    return sorted(read)


def _c_environment() -> list[bytes]:
    """The environment a program exec'd now would get (the C library's ``environ``, which
    ``os.environ`` writes through to)."""
    entries = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc(), "environ")
    found: list[bytes] = []
    index = 0
    while entries[index] is not None:
        found.append(bytes(entries[index]))
        index += 1
    return found


def _umask() -> int:
    with open("/proc/self/status", "rb") as status:
        for line in status:
            if line.startswith(b"Umask:"):
                return int(line.split()[1], 8)
    raise OSError("no umask in /proc/self/status")


def _ignored() -> list[int]:
    return [int(s) for s in signal.valid_signals() if signal.getsignal(s) == signal.SIG_IGN]


def _process_state() -> dict[str, Any]:
    """What a child started now inherits from this process."""
    return {
        "cwd": os.getcwd(),
        "umask": _umask(),
        "rlimits": [(r, *resource.getrlimit(r)) for r in _RLIMITS],
        "mask": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "ignored": _ignored(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "cpus": sorted(os.sched_getaffinity(0)),
        "group": (os.getpgid(0), os.getsid(0)),
    }


class Template:
    """The student's main process's side: the template's socket and the rules of when to
    ask it (see the module)."""

    def __init__(self, sock: socket.socket, pid: int, group: tuple[int, int]) -> None:
        self.sock = sock
        self.pid = pid
        self.owner = os.getpid()
        self.group = group
        self.lock = allocate_lock()  # one request and its answer at a time
        self.startup: list[tuple[str, str]] = _startup(dict(os.environ))
        self.gate = -1  # the read end of the gate (open_gate), given to each child

    def spawn(self, path: str | bytes, args: list[Any], passfds: Iterable[int]) -> int | None:
        """The pid of the spawn child ``args`` describes, made by the template; None
        where it must be spawned as usual."""
        from multiprocessing import util

        flags = util._args_from_interpreter_flags()  # type: ignore[attr-defined]
        cut = len(flags) + 1
        # multiprocessing gives the executable as bytes; exec would decode argv again
        args = [os.fsdecode(a) for a in args]
        command = args[cut:]
        if (
            os.getpid() != self.owner
            or os.fsdecode(path) != sys.executable
            or args[0] != sys.executable
            or args[1:cut] != flags
            or not (
                (
                    len(command) == 3
                    and command[0] == "-c"
                    and command[1].startswith(_SPAWN_CODE)
                    and command[2] == "--multiprocessing-fork"
                )
                or (
                    len(command) == 2
                    and command[0] == "-c"
                    and command[1].startswith(_TRACKER_CODE)
                )
            )
            or (os.getpgid(0), os.getsid(0)) != self.group
            or _startup(dict(os.environ)) != self.startup
        ):
            return None
        try:
            targets = sorted({0, 1, 2, *(int(fd) for fd in passfds)})
            request = {
                "args": list(args),
                "path": list(sys.path),
                "targets": targets,
                "env": _c_environment(),
                **_process_state(),
            }
            gate = int(_gate_w >= 0 and self.gate >= 0)
            request["gate"] = gate
            with self.lock:
                fds = [*targets, self.gate] if gate else targets
                if _asking is not None:
                    _asking[0] = 1
                try:
                    socket.send_fds(self.sock, [marshal.dumps(request)], fds)
                    pid = marshal.loads(self.sock.recv(64))
                finally:
                    if _asking is not None:
                        _asking[0] = 0
        except (OSError, EOFError, ValueError, TypeError):
            return None
        return pid if isinstance(pid, int) and pid > 0 else None


def start(
    offset: int,
    extra: set[str],
    shadowed: Callable[[Iterable[str], set[str]], bool],
    report: int = -1,
) -> int:
    """In the student's main process, before any student code: make the template, and
    have multiprocessing ask it for spawn children. Returns the template's pid (0 if
    none could be made). Returns in the template only as a spawn child it made (raising
    :class:`Spawned`). The template says on ``report`` (if given: the supervisor's pipe,
    which the caller closes once it has said the template's pid there) the pid of each
    resource tracker it makes, a line each: like the template, not a student's process."""
    global _asking
    group = (os.getpgid(0), os.getsid(0))
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    owner = os.getpid()
    try:
        import mmap

        _asking = mmap.mmap(-1, 1)  # MAP_SHARED: the template and its children see it
    except (OSError, ValueError):
        _asking = None
    pid = _clone(signal.SIGCHLD, offset)
    if pid == 0:
        ours.close()
        _serve(theirs, owner, offset, extra, shadowed, report)  # raises Spawned in a child
    theirs.close()
    if pid < 0:
        ours.close()
        return 0
    # out of the way of the student's own file descriptors (a fresh interpreter has 0-2)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    import fcntl

    high = fcntl.fcntl(ours.fileno(), fcntl.F_DUPFD_CLOEXEC, max(3, min(soft, 1 << 16) - 1))
    ours.close()
    template = Template(socket.socket(fileno=high), pid, group)
    _make_gate(template, soft)
    from multiprocessing import util

    real = util.spawnv_passfds

    def spawnv_passfds(path: Any, args: Any, passfds: Any) -> int:
        passfds = list(passfds)
        child = template.spawn(path, args, passfds)
        return real(path, args, passfds) if child is None else child

    spawnv_passfds.__doc__ = real.__doc__
    util.spawnv_passfds = spawnv_passfds
    _hide_from_wait(pid)
    return pid


def _make_gate(template: Template, soft: int) -> None:
    """A real spawn child starts a new interpreter before it reads what its parent sent
    (the lock it is given, ...): its parent has gone on meanwhile, e.g. returned from a
    main() that made that lock and never joined (the child then finds the lock gone, in
    every run). A child made by the template is ready at once, so whether it wins that race
    would depend on timing. It therefore waits at a gate until its parent has had its turn:
    the parent joins a process, or ends (the write end closes), or has had ``GATE_S`` of
    CPU, or waits for something (:func:`_await_parents_turn`)."""
    global _gate_w
    import fcntl

    try:
        read, write = os.pipe()
        top = max(3, min(soft, 1 << 16) - 3)
        template.gate = fcntl.fcntl(read, fcntl.F_DUPFD_CLOEXEC, top)
        _gate_w = fcntl.fcntl(write, fcntl.F_DUPFD_CLOEXEC, top)
        os.close(read)
        os.close(write)
    except OSError:
        return
    os.register_at_fork(after_in_child=open_gate)
    # the harness (inject/_ipcgrader_mp.py, which cannot import this module) opens it
    sys._ipcgrader_open_spawn_gate = open_gate  # type: ignore[attr-defined]


def _parent_now(pid: int) -> tuple[str, float]:
    """The parent's state letter (``/proc/PID/stat``; "" when it is gone) and its main
    thread's CPU seconds (``schedstat``, to the nanosecond; else clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except OSError:
        return "", 0.0
    state = fields[0].decode("ascii", "replace")
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as handle:
            return state, int(handle.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return state, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _await_parents_turn(gate: int) -> None:
    """Wait at the gate (:func:`_make_gate`) until the parent has had its turn: it opened
    the gate (joined a process) or ended, it has had ``GATE_S`` of CPU since, or it is
    asleep, waiting for something (this child's work, perhaps), as a new interpreter's
    parent would be by the time the child could answer. Its waits for the template's
    answer (the ``asking`` byte is 1 meanwhile) are not its turn: a loaded machine makes
    them long."""
    import select
    import time

    flag = _asking
    parent = os.getppid()
    _, begun = _parent_now(parent)
    asleep = 0
    deadline = time.monotonic() + GATE_WALL_S
    try:
        while not select.select([gate], [], [], GATE_STEP_S)[0]:
            state, cpu = _parent_now(parent)
            waiting_for_us = flag is None or flag[0] == 1
            asleep = asleep + 1 if state == "S" and not waiting_for_us else 0
            if state in ("", "Z", "X") or cpu - begun >= GATE_S or asleep >= GATE_ASLEEP:
                return
            if time.monotonic() > deadline:
                return
    finally:
        _forget_asking()


def _forget_asking() -> None:
    """A spawn child past its gate keeps nothing of the main process's."""
    global _asking
    if _asking is not None:
        try:  # noqa: SIM105
            _asking.close()
        except (OSError, ValueError, BufferError):
            pass
        _asking = None


def open_gate() -> None:
    """The main process has had its turn (it joins a process): children waiting at the
    gate go on, and later ones do not wait. Also run in each fork child of the main
    process, whose inherited copy of the gate is not the parent's turn."""
    global _gate_w
    if _gate_w >= 0:
        try:  # noqa: SIM105
            os.close(_gate_w)
        except OSError:
            pass
        _gate_w = -1


def _children() -> set[int]:
    """This process's children, ended ones not yet waited for included."""
    found: set[int] = set()
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/children", "rb") as children:
            found.update(int(pid) for pid in children.read().split())
    return found


def _hide_from_wait(template: int) -> None:
    """Waiting for any child fails with ``ECHILD`` when the template is the only child,
    as it would without it (it never ends while this process runs, and is in a process
    group of its own: waiting for any child of the group never sees it)."""
    import errno

    def alone() -> bool:
        try:
            return _children() <= {template}
        except OSError:
            return False

    def none_left() -> ChildProcessError:
        return ChildProcessError(errno.ECHILD, os.strerror(errno.ECHILD))

    real_wait, real_wait3 = os.wait, os.wait3
    real_waitpid, real_wait4, real_waitid = os.waitpid, os.wait4, os.waitid

    def wait() -> tuple[int, int]:
        if alone():
            raise none_left()
        return real_wait()

    def wait3(options: int) -> Any:
        if alone():
            raise none_left()
        return real_wait3(options)

    def waitpid(pid: int, options: int, /) -> tuple[int, int]:
        if pid == -1 and alone():
            raise none_left()
        return real_waitpid(pid, options)

    def wait4(pid: int, options: int) -> Any:
        if pid == -1 and alone():
            raise none_left()
        return real_wait4(pid, options)

    def waitid(idtype: int, ident: int, options: int, /) -> Any:
        if idtype == os.P_ALL and alone():
            raise none_left()
        return real_waitid(idtype, ident, options)

    for ours, real in ((wait, real_wait), (wait3, real_wait3), (waitpid, real_waitpid),
                       (wait4, real_wait4), (waitid, real_waitid)):  # fmt: skip
        ours.__doc__ = real.__doc__
        setattr(os, real.__name__, ours)


def _is_tracker(request: dict[str, Any]) -> bool:
    """Whether ``request`` is for multiprocessing's resource tracker."""
    args = request.get("args") or []
    return len(args) >= 2 and str(args[-1]).startswith(_TRACKER_CODE)


def _serve(
    sock: socket.socket,
    owner: int,
    offset: int,
    extra: set[str],
    shadowed: Callable[[Iterable[str], set[str]], bool],
    report: int = -1,
) -> None:
    """The template's life: make a child per request until the main process is gone; say
    each resource tracker made on ``report`` (if >= 0)."""
    try:
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != owner:
            os._exit(0)
        os.setpgid(0, 0)  # out of reach of a killpg of the student's group
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # each child sets its own again
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        low = 3
        for fd in sorted({sock.fileno(), report} - {-1}):
            os.closerange(low, fd)
            low = fd + 1
        os.closerange(low, 1 << 16)
        mine = _process_state()
        mine["path"] = list(sys.path)
        while True:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 64)
            if not data:
                os._exit(0)
            try:
                request = marshal.loads(data)
                ok = len(fds) == len(request["targets"]) + int(request.get("gate", 0)) and _fits(
                    request, mine, extra, shadowed
                )
            except Exception:
                ok = False
            pid = _clone(CLONE_PARENT | signal.SIGCHLD, offset) if ok else -1
            if pid == 0:
                sock.close()
                _become(request, fds)  # raises Spawned (with ``report`` closed)
            if pid > 0 and report >= 0 and _is_tracker(request):
                try:  # noqa: SIM105
                    os.write(report, b"%d\n" % pid)
                except OSError:  # the supervisor is gone: the run is over
                    pass
            for fd in fds:
                os.close(fd)
            sock.send(marshal.dumps(pid))
    except Spawned:
        raise  # in a child: on to its command
    except BaseException:
        # never anything else out of here: the template must not go on as the main process
        os._exit(0)


def _fits(
    request: dict[str, Any],
    mine: dict[str, Any],
    extra: set[str],
    shadowed: Callable[[Iterable[str], set[str]], bool],
) -> bool:
    """Whether this template can give the child exactly what exec would."""
    limits = {r: hard for r, _, hard in mine["rlimits"]}
    for r, _soft, hard in request["rlimits"]:
        top = limits.get(r)
        if top is None or (top != resource.RLIM_INFINITY and hard == resource.RLIM_INFINITY):
            return False
        if top != resource.RLIM_INFINITY and hard > top:
            return False
    if request["nice"] < mine["nice"]:
        return False
    # the folders a new interpreter's imports would search that ours did not
    folders = [request["cwd"], *(p for p in request["path"] if p and p not in mine["path"])]
    return not shadowed(folders, extra)


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """In the new child: what exec would have given it, then :class:`Spawned`."""
    try:
        targets: list[int] = request["targets"]
        top = max(targets) + 1
        moved = [_above(fd, top) for fd in fds]  # none where a target goes
        gate = moved.pop() if request.get("gate") else -1
        for fd, target in zip(moved, targets, strict=True):
            os.dup2(fd, target, inheritable=True)
        keep = set(targets) | {gate}
        for fd in _open_fds():
            if fd not in keep:
                try:  # noqa: SIM105 - no contextlib in a run's start-up
                    os.close(fd)
                except OSError:
                    pass
        os.setpgid(0, request["group"][0])  # the main process's group, as a child's
        os.chdir(request["cwd"])
        os.umask(request["umask"])
        for r, soft, hard in request["rlimits"]:
            if resource.getrlimit(r) != (soft, hard):
                resource.setrlimit(r, (soft, hard))
        if os.getpriority(os.PRIO_PROCESS, 0) != request["nice"]:
            os.setpriority(os.PRIO_PROCESS, 0, request["nice"])
        if sorted(os.sched_getaffinity(0)) != request["cpus"]:
            os.sched_setaffinity(0, request["cpus"])
        _signals(set(request["ignored"]))
        signal.pthread_sigmask(signal.SIG_SETMASK, request["mask"])
        environ = os.environb
        environ.clear()
        for entry in request["env"]:
            name, sep, value = entry.partition(b"=")
            if sep and name:
                environ[name] = value
        args: list[str] = request["args"]
        cut = args.index("-c")
        sys.argv = ["-c", *args[cut + 2 :]]
        sys.orig_argv = list(args)
        import multiprocessing

        multiprocessing.current_process().authkey = os.urandom(32)  # as at start-up
        if gate >= 0:  # the parent's head start (_make_gate)
            _await_parents_turn(gate)
            os.close(gate)
        _forget_asking()
        code = args[cut + 1]
        # what site does at start-up: the harness's sitecustomize, here with the child's
        # environment and command line
        install = getattr(sys.modules.get("sitecustomize"), "install_harness", None)
        if install is not None:
            install()
    except BaseException as exc:
        try:
            os.write(2, f"ipcgrader warm runner: cannot start a spawn child: {exc!r}\n".encode())
        finally:
            os._exit(1)
    raise Spawned(code)


def _above(fd: int, low: int) -> int:
    import fcntl

    return int(fcntl.fcntl(fd, fcntl.F_DUPFD, low))


def _open_fds() -> list[int]:
    return [int(name) for name in os.listdir("/proc/self/fd")]


def _signals(ignored: set[int]) -> None:
    """Dispositions as a new interpreter gets them: what the parent ignored stays ignored
    (exec keeps it), every other signal its default, then Python's own start-up settings."""
    for sig in signal.valid_signals():
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        want: Any = signal.SIG_IGN if sig in ignored or sig in _STARTUP_IGNORED else signal.SIG_DFL
        if sig == signal.SIGINT and want == signal.SIG_DFL:
            want = signal.default_int_handler
        try:
            if signal.getsignal(sig) != want:
                signal.signal(sig, want)
        except (OSError, ValueError):
            pass
