"""The warm interpreter every run of a grading is forked from. Standard library only.

Started once per grading by :class:`ipcgrader.sandbox.WarmRunner` as ``python -c``, with
the environment a run's interpreter starts with (``PYTHONPATH`` with the harness,
``PYTHONHASHSEED`` ...; whatever Python reads only at start-up must be the run's) and
``IPCGRADER_ZYGOTE`` naming the file descriptor of a unix socket to the grader. It imports
once what the processes of every run import (the harness, multiprocessing, the supervisor),
then makes each run it is asked for::

    zygote ── fork ── leader: a session of its own; unshare(2): PID, mount, network, IPC
                       └── fork ── supervisor: PID 1 there, /proc mounted, supervise.py's
                                   own code (limits, capture, sweep; the run's filesystem)
                                    └── fork ── student's main process: confined by
                                        supervise.py exactly as before exec, then what exec
                                        would have done, then the program as ``__main__``

so a run costs three forks instead of starting two interpreters, and the student's code
still runs only after every layer of the run's isolation is in place. In a run made under
spawn, the student's main process also forks a template its spawn children are made from
(``spawner.py``); such a child comes back here and runs its ``python -c`` command.

A request is one datagram: the marshalled ``{"config": ..., "namespaces": bool}`` with two
file descriptors, the answer pipe and the supervisor's log. The reply is the leader's pid
(marshalled) with a pidfd of it, for the grader to kill the run. On the answer pipe come
the supervisor's two records (as from ``supervise.py`` started cold), then the leader's:
``{"exit": the supervisor's wait status}``, once it has ended.
"""

from __future__ import annotations

import gc
import marshal
import os
import select
import signal
import socket
import sys
import time

#: CPU this process used before and after importing the runner's own modules: what it
#: spends importing them is not part of an interpreter's start-up (see :func:`_warm_up`)
_OWN_IMPORTS = [time.process_time()]
try:
    from . import confine, fsview, spawner, supervise
except ImportError:  # imported from its own folder, as the sandbox does
    import confine  # type: ignore[import-not-found, no-redef]
    import fsview  # type: ignore[import-not-found, no-redef]  # noqa: F401  (warm for runs)
    import spawner  # type: ignore[import-not-found, no-redef]
    import supervise  # type: ignore[import-not-found, no-redef]
_OWN_IMPORTS.append(time.process_time())

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import CodeType, FrameType
    from typing import Any

#: Where the grader's socket is (a file descriptor number).
SOCKET_ENV = "IPCGRADER_ZYGOTE"
#: The run marker's variable (``ipcgrader.sandbox.RUN_MARKER``) and the length of the
#: placeholder value the zygote starts with: each run writes its own marker over it.
MARKER_ENV = "IPCGRADER_RUN"
MARKER_SLOT = 48
#: This module and the supervisor's: not the student's to see (a ``supervise.py`` of theirs
#: must import as theirs).
_OWN_MODULES = ("zygote", "supervise", "confine", "fsview", "spawner")
#: What Python sets at start-up that a forked process must set again.
_STARTUP_SIGNALS: dict[int, Callable[[int, FrameType | None], Any] | int] = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGPIPE: signal.SIG_IGN,
    signal.SIGXFSZ: signal.SIG_IGN,
}
_NAMESPACES = confine.CLONE_NEWPID | confine.CLONE_NEWNS | confine.CLONE_NEWNET
_NAMESPACES |= confine.CLONE_NEWIPC


#: CPU seconds a cold interpreter of a run spends starting (Python's own start-up, the
#: harness, multiprocessing and what its processes import), as this one spent it: what a
#: process forked from here never pays, and each one started afresh is allowed
STARTUP_CPU: list[float] = []


def _warm_up() -> set[str]:
    """Import what every run imports; return the names a cold run would not have imported
    before the student's code (they go again when a student's file shadows one)."""
    try:  # what sitecustomize imports in a traced run (the zygote skips installing it)
        import _ipcgrader_files  # noqa: F401
        import _ipcgrader_ipc  # noqa: F401
        import _ipcgrader_mp  # noqa: F401
        import _ipcgrader_output  # noqa: F401
        import _ipcgrader_trace  # noqa: F401
        import _ipcgrader_waits  # noqa: F401
    except ImportError:  # no harness on this interpreter's path
        pass
    import multiprocessing.context

    cold = set(sys.modules)
    # what the driver, the student's program and its children import next (ctypes: each
    # run's marker, and spawn templates)
    import ctypes  # noqa: F401
    import importlib.util  # noqa: F401
    import json  # noqa: F401
    import multiprocessing.connection
    import multiprocessing.managers
    import multiprocessing.popen_fork
    import multiprocessing.popen_spawn_posix
    import multiprocessing.queues
    import multiprocessing.resource_tracker
    import multiprocessing.spawn
    import multiprocessing.synchronize  # noqa: F401
    import random  # noqa: F401

    _compile_own_scripts()
    STARTUP_CPU.append(time.process_time() - (_OWN_IMPORTS[1] - _OWN_IMPORTS[0]))
    return set(sys.modules) - cold


#: The harness's own scripts a run starts as ``__main__`` (``bootstrap.py``, in every run
#: with a driver), by path: their source and its code, compiled once here rather than again
#: in every run (~1.6 ms of CPU each time)
_COMPILED: dict[str, tuple[bytes, CodeType]] = {}


def _compile_own_scripts() -> None:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
    try:
        with open(path, "rb") as handle:
            source = handle.read()
        _COMPILED[path] = (source, compile(source, path, "exec", dont_inherit=True))
    except (OSError, SyntaxError, ValueError):
        pass  # each run compiles it, and says what is wrong


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve() -> dict[str, object]:
    """Answer requests until the grader closes the socket (then exit). Returns only in a
    run's student main process, with that run's configuration."""
    # no process of the same user may ptrace us or open our socket
    confine.prctl(confine.PR_SET_DUMPABLE, 0)
    sock = socket.socket(fileno=int(os.environ[SOCKET_ENV]))
    # "ready", then what this interpreter's start-up cost (allowed on top of a run's CPU
    # budget for each interpreter it starts afresh)
    sock.send(b"ready %.4f" % (STARTUP_CPU[0] if STARTUP_CPU else 0.0))
    while True:
        _reap()
        data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 4)
        if not data:
            break
        # Everything imported so far outlives every run: out of the collector's sight, a
        # collection in a run (the student's, its children's, the supervisor's) neither
        # walks it nor writes to its pages, which fork shares until written.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            os.close(sock.detach())
            return _leader(data, fds)
        for fd in fds:
            os.close(fd)
        try:
            handles = [os.pidfd_open(pid)]
        except (OSError, AttributeError):  # Linux before 5.3: the grader kills by pid
            handles = []
        socket.send_fds(sock, [marshal.dumps(pid)], handles)
        for fd in handles:
            os.close(fd)
    while True:  # every run has answered; collect the last leaders
        try:
            os.wait()
        except ChildProcessError:
            os._exit(0)


def _fail(what: str, exc: BaseException) -> None:
    try:
        os.write(2, f"ipcgrader warm runner: {what}: {exc!r}\n".encode())
    finally:
        os._exit(1)


def _leader(data: bytes, fds: list[int]) -> dict[str, object]:
    """The run's leader: in its namespaces, waits for the supervisor, then says how it
    ended. Returns only in the student's main process."""
    try:
        confine.prctl(confine.PR_SET_DUMPABLE, 0)
        request = marshal.loads(data)
        config: dict[str, object] = request["config"]
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.closerange(3, 1 << 16)
        if request["namespaces"]:
            confine.unshare(_NAMESPACES)
        alive_r, alive_w = os.pipe()
        pid = os.fork()
    except BaseException as exc:
        _fail("cannot start the run", exc)
    if pid:
        os.close(alive_r)
        _, status = os.waitpid(pid, 0)
        os.write(1, marshal.dumps({"exit": status}))
        os._exit(0)
    try:
        os.close(alive_w)
        # the leader killed (the grader's hard deadline) takes the supervisor, and in a PID
        # namespace every process of the run, with it
        confine.prctl(confine.PR_SET_PDEATHSIG, signal.SIGKILL)
        if select.select([alive_r], [], [], 0)[0]:
            os._exit(1)  # it died before we asked
        os.close(alive_r)
        if request["namespaces"]:
            confine.mount_proc()
        config["warm"] = True
        result, captures = supervise.supervise(config)
        supervise.write_answer(result, captures)
    except supervise.BecomeMain:
        return config
    except BaseException as exc:
        _fail("supervisor", exc)
    os._exit(0)


def _write_marker(token: str) -> None:
    """Write this run's marker over the placeholder in the environment this process
    started with, which is what ``/proc/PID/environ`` shows (and what the grader's sweep
    and the tests' leftover check read); ``os.environ`` then gets it too."""
    import ctypes

    value = token.encode()[:MARKER_SLOT]
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_void_p
    where = libc.getenv(MARKER_ENV.encode())
    if where:
        ctypes.memmove(where, value + b"\0" * (MARKER_SLOT - len(value)), MARKER_SLOT)


def _shadowed(folders: Iterable[str], extra: set[str]) -> bool:
    """Whether a file in ``folders`` has the name of a module only the zygote imported."""
    tops = {name.partition(".")[0] for name in extra}
    for folder in folders:
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        if any(entry.removesuffix(".py") in tops for entry in entries):
            return True
    return False


def become_main(config: dict[str, object], extra: set[str]) -> str:
    """In the student's main process, confined by ``supervise.confine_child``: do what exec
    would have done and set the interpreter up as ``python SCRIPT ARGS`` starts. Returns the
    script's path."""
    confine.clear_capabilities()  # exec under SECBIT_NOROOT would leave none
    confine.prctl(confine.PR_SET_DUMPABLE, 1)  # as exec makes it
    for sig, handler in _STARTUP_SIGNALS.items():
        signal.signal(sig, handler)
    argv = [str(a) for a in config["argv"]]  # type: ignore[attr-defined]
    env = {str(k): str(v) for k, v in dict(config["env"]).items()}  # type: ignore[call-overload]
    _write_marker(env.get(MARKER_ENV, ""))
    for name in _OWN_MODULES:
        sys.modules.pop(name, None)
    report = config.get("template_fd")
    if isinstance(report, int):
        # the interpreter as it is here is what a spawn child starts as (spawner.py): a
        # copy of it, made now, makes this run's spawn children; the supervisor is told
        # its pid (it is not one of the student's processes), and by the template itself
        # of each resource tracker it makes (nor are they)
        template = 0
        offset = spawner.tid_offset()
        if offset is not None and not _shadowed({os.getcwd()}, extra):
            template = spawner.start(offset, extra, _shadowed, report)
        os.write(report, b"%d\n" % template)
        os.close(report)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv[1:]
    sys.orig_argv = argv
    script = argv[1]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
    if _shadowed({sys.path[0], os.getcwd()}, extra):
        for name in extra:
            sys.modules.pop(name, None)
    import multiprocessing

    multiprocessing.current_process().authkey = os.urandom(32)  # a fresh one, as at start
    harness = sys.modules.get("sitecustomize")
    install = getattr(harness, "install_harness", None)
    if install is not None:
        install()
    return script


def run_script(script: str) -> None:
    """Run ``script`` as ``__main__`` the way ``python SCRIPT`` does; an uncaught exception
    is printed by ``sys.excepthook`` (the harness records it there) and exits 1."""
    import io
    from importlib.machinery import SourceFileLoader

    path = script if os.path.isabs(script) else os.getcwd() + os.sep + script
    try:
        with io.open_code(path) as handle:
            source = handle.read()
    except OSError as exc:
        sys.stderr.write(f"{sys.executable}: can't open file {path!r}: [Errno {exc.errno}] ")
        sys.stderr.write(f"{exc.strerror}\n")
        raise SystemExit(2) from None
    _exec_as_main(source, path, SourceFileLoader("__main__", path), __file__=path, __cached__=None)


def _exec_as_main(source: str | bytes, filename: str, loader: object, **names: object) -> None:
    """Run ``source`` in a fresh ``__main__`` as Python fills it (in its order), with
    ``loader`` and ``names`` (what ``python SCRIPT`` adds there, ``__file__`` ...); an
    uncaught exception is printed by ``sys.excepthook`` (the harness records it there)
    without this frame, and exits 1."""
    import builtins

    namespace = sys.modules["__main__"].__dict__
    namespace.clear()
    namespace.update(
        __name__="__main__",
        __doc__=None,
        __package__=None,
        __loader__=loader,
        __spec__=None,
        __annotations__={},
        __builtins__=builtins,
        **names,
    )
    cached = _COMPILED.get(filename)
    code = cached[1] if cached is not None and cached[0] == source else None
    try:
        # compiled in this frame: a syntax error's traceback loses it like the others
        exec(code or compile(source, filename, "exec", dont_inherit=True), namespace)
    except SystemExit:
        raise
    except BaseException as exc:
        traceback = exc.__traceback__
        if traceback is not None and traceback.tb_frame.f_code is _exec_as_main.__code__:
            traceback = traceback.tb_next  # this frame is not the student's
        # the hook prints the exception's own traceback: it must lose our frame too
        sys.excepthook(type(exc), exc.with_traceback(traceback), traceback)
        raise SystemExit(1) from None


def run_command(code: str) -> None:
    """Run ``code`` as ``python -c`` does (a spawn child made by the template)."""
    _exec_as_main(code, "<string>", sys.modules["_frozen_importlib"].BuiltinImporter)


def measure() -> None:
    """Say on stdout what this interpreter's start-up cost, and exit: what a cold run's
    interpreters are allowed on top of its CPU budget (``ipcgrader.warm.cold_startup_cpu``)."""
    _warm_up()
    sys.stdout.write("%.4f\n" % (STARTUP_CPU[0] if STARTUP_CPU else 0.0))


def main() -> None:
    """The zygote's whole life; in a run's student main process, that program's; in a
    spawn child made by a template, that child's."""
    # No collection while warming up: the imports make objects that outlive every run and
    # hardly any garbage (each collection walked them again, ~4 ms of CPU in all). Every
    # run starts with the collector on, as a new interpreter does.
    gc.disable()
    try:
        extra = _warm_up()
    finally:
        gc.enable()
    config = serve()
    code: str | None = None
    try:
        script = become_main(config, extra)
    except spawner.Spawned as spawned:
        code = spawned.code
    if code is not None:
        run_command(code)  # outside the handler: no exception is being handled
    else:
        run_script(script)
