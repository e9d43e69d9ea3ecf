"""Harness patches for multiprocessing, threading locks and fcntl. Standard library only.

Modules are patched when they are first imported (an import hook that runs the patch right
after the module's own code), so a process that never creates a Queue never pays for it.
Only objects the student's code (or the exercise's driver) creates are traced: the locks a
Queue or a Condition makes for itself are left alone, judged by where they were created.

Lock identity: each traced lock gets a tag when created (``L<pid>.<n>``; see
docs/trace.md). Fork children inherit the tagged object; spawn and forkserver children get
it through pickling, which carries the tag along.
"""

from __future__ import annotations

import os
import sys

import _ipcgrader_trace as trace
import _ipcgrader_turns as turns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, ModuleType
    from typing import Any, NoReturn

_MARK = "_ipcgrader"
_TAG = "_ipcgrader_tag"
#: the harness's own folder: its frames are never the creator of a lock
_HARNESS = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Called after a lock was really released (amplification hooks in).
after_release: list[Callable[[], None]] = []


def _released() -> None:
    for hook in after_release:
        hook()


def _tag_of(obj: object) -> str | None:
    tag = getattr(obj, "__dict__", {}).get(_TAG)
    return tag if isinstance(tag, str) else None


def _origin(frame: FrameType | None) -> str | None:
    if frame is None:
        return None
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


# --- import hook ---------------------------------------------------------------------------


class _PatchingLoader:
    """Runs a module's own loader, then patches the module."""

    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._patch = patch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        _run_patch(self._patch, module)


def _run_patch(patch: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        patch(module)
    except Exception as exc:  # a harness bug must not break the student's program
        os.write(2, f"ipcgrader harness: cannot watch {module.__name__}: {exc!r}\n".encode())


class _Watcher:
    """A meta path finder that finds nothing itself: it wraps the loader of the modules we
    patch so that the patch runs as soon as the module is loaded."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        patch = self.patches.pop(name, None)
        if patch is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


# --- multiprocessing: the student's own choice of start method -----------------------------


def _patch_start_method(module: ModuleType) -> None:
    """Record each ``set_start_method()`` call that took effect (``start_method`` event),
    so the grader can tell a run meant for one start method that the student's code
    switched to another (it is allowed to: the call works as in ``python prog.py``)."""
    context = module.context
    cls = context.DefaultContext
    real = cls.set_start_method

    def set_start_method(self: Any, method: Any, force: bool = False) -> None:
        real(self, method, force)
        trace.emit("start_method", None, None, method=method, force=bool(force))

    set_start_method.__doc__ = real.__doc__
    cls.set_start_method = set_start_method
    # multiprocessing.set_start_method is the default context's method, bound at import
    setattr(module, "set_start_method", context._default_context.set_start_method)  # noqa: B010


# --- multiprocessing.process: start, join, the life of a child ----------------------------


def _patch_process(module: ModuleType) -> None:
    base = module.BaseProcess
    real_start, real_join, real_bootstrap = base.start, base.join, base._bootstrap
    real_terminate, real_kill = base.terminate, base.kill

    def start(self: Any) -> None:
        began = trace._monotonic()
        target = getattr(getattr(self, "_target", None), "__qualname__", None)
        for hook in trace.start_hooks:
            hook(None, target)
        real_start(self)  # deletes self._target
        method = getattr(getattr(self, "_popen", None), "method", None)
        trace.emit(
            "start",
            None,
            None,
            t=began,
            child=self.pid,
            name=self.name,
            method=method,
            daemon=bool(self.daemon),
        )
        for hook in trace.start_hooks:
            hook(self.pid, target)
        turns.started_child()

    def join(self: Any, timeout: float | None = None) -> None:
        child = self.pid
        # spawn children made by a warm run's template wait for this (harness/spawner.py)
        open_gate = getattr(sys, "_ipcgrader_open_spawn_gate", None)
        if open_gate is not None:
            open_gate()
        trace.emit("join", None, None, child=child, timeout=timeout)
        slot = trace.blocking(timeout is None)
        turns.waiting(True)  # a joining process asks no queue for items meanwhile
        try:
            real_join(self, timeout)
        finally:
            turns.waiting(False)
            trace.unblocked(slot)
        trace.emit("joined", None, None, child=child, exitcode=self.exitcode)

    # The program ends a child on purpose: that child's missing exit event is no crash.
    def terminate(self: Any) -> None:
        trace.emit("terminate", None, None, child=self.pid, signal="SIGTERM")
        real_terminate(self)

    def kill(self: Any) -> None:
        trace.emit("terminate", None, None, child=self.pid, signal="SIGKILL")
        real_kill(self)

    def _bootstrap(self: Any, *args: Any, **kwargs: Any) -> int:
        target = getattr(self, "_target", None)
        trace.begin_run(self.name, getattr(target, "__qualname__", None))
        crash: list[dict[str, Any]] = []
        left: list[dict[str, Any]] = []
        real_run, real_exit = self.run, os._exit

        def run() -> None:
            try:
                real_run()
            except SystemExit as exc:
                # sys.exit() in the target: where, so that the report can name the line
                info = trace.exception_info(exc, exc.__traceback__)
                left.append(
                    {"how": "sys.exit", "code": _shown_code(exc.code), "file": info["file"],
                     "line": info["line"]}
                )  # fmt: skip
                raise
            except BaseException as exc:
                crash.append(trace.exception_info(exc, exc.__traceback__))
                raise

        def _exit(status: int) -> NoReturn:
            # os._exit() in the target ends the process at once: record where, first
            file, line = trace.student_location(sys._getframe(1))
            how = {"how": "os._exit", "code": status, "file": file, "line": line}
            trace.process_exit(status, None, how if file is not None else None)
            real_exit(status)

        self.run = run
        os._exit = _exit
        try:
            code: int = real_bootstrap(self, *args, **kwargs)
        finally:
            os._exit = real_exit
        trace.process_exit(code, crash[0] if crash else None, left[0] if left else None)
        return code

    base.start, base.join, base._bootstrap = start, join, _bootstrap
    base.terminate, base.kill = terminate, kill


def _shown_code(code: object) -> int | str | None:
    """sys.exit()'s argument as JSON can hold it."""
    return code if code is None or isinstance(code, (int, str)) else repr(code)


# --- multiprocessing.synchronize: Lock, RLock, Semaphore, BoundedSemaphore, Condition -------


def _creator(lock: Any, module: ModuleType) -> tuple[FrameType | None, str] | None:
    """The frame that asked for ``lock`` and the kind to call it, or None when it was made
    by multiprocessing for itself (a Queue's locks, an Event's Condition ...)."""
    sync_file = module.__file__
    package = os.path.dirname(sync_file or "") + os.sep
    kind = type(lock).__name__
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename == sync_file:
            owner = frame.f_locals.get("self")
            if owner is lock:
                frame = frame.f_back
                continue
            if isinstance(owner, module.Condition) and kind == "RLock":
                kind = "Condition"  # the lock of a Condition() made without one
                frame = frame.f_back
                continue
            return None
        if filename.startswith(package) or filename.startswith(_HARNESS):
            if filename.endswith("context.py") or filename.startswith(_HARNESS):
                frame = frame.f_back  # (the harness's own wrappers, e.g. Condition's)
                continue
            return None
        if filename.endswith("_ipcgrader_state.py"):
            return None  # a Value's or Array's own lock: tagged as its get_lock() there
        return frame, kind
    return None


def _wrap_semlock(lock: Any, tag: str) -> None:
    semlock = lock._semlock
    real_acquire, real_release = semlock.acquire, semlock.release

    def acquire(*args: Any, **kwargs: Any) -> bool:
        block = args[0] if args else kwargs.get("block", True)
        timeout = args[1] if len(args) > 1 else kwargs.get("timeout")
        trace.emit("acquire", tag, None, block=bool(block), timeout=timeout)
        slot = trace.blocking(bool(block) and timeout is None)
        try:
            ok = real_acquire(*args, **kwargs)
        finally:
            trace.unblocked(slot)
        trace.acquired(tag, bool(ok), sys._getframe(1))
        return bool(ok)

    def release() -> None:
        trace.released(tag, sys._getframe(1))
        real_release()
        _released()

    lock.acquire, lock.release = acquire, release


def _patch_synchronize(module: ModuleType) -> None:
    semlock = module.SemLock
    real_init, real_make = semlock.__init__, semlock._make_methods
    real_get, real_set = semlock.__getstate__, semlock.__setstate__
    real_enter, real_exit = semlock.__enter__, semlock.__exit__

    def __init__(self: Any, kind: int, value: int, maxvalue: int, *args: Any, **kw: Any) -> None:
        real_init(self, kind, value, maxvalue, *args, **kw)
        found = _creator(self, module)
        if found is None or not trace.enabled():
            return
        frame, name = found
        exclusive = name in ("Lock", "RLock", "Condition") or value <= 1
        tag = trace.new_tag("L" if exclusive else "S")
        self.__dict__[_TAG] = tag
        trace.emit("lock_new", tag, frame, lock=name, value=value, origin=_origin(frame))
        _wrap_semlock(self, tag)

    def _make_methods(self: Any) -> None:
        real_make(self)
        tag = _tag_of(self)
        if tag is not None:
            _wrap_semlock(self, tag)

    def __getstate__(self: Any) -> Any:
        state = real_get(self)
        tag = _tag_of(self)
        return state if tag is None else (_MARK, state, tag)

    def __setstate__(self: Any, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 3 and state[0] == _MARK:
            self.__dict__[_TAG] = state[2]
            state = state[1]
        real_set(self, state)

    def __enter__(self: Any) -> Any:
        tag = _tag_of(self)
        if tag is None:
            return real_enter(self)
        trace.emit("acquire", tag, None, block=True)
        slot = trace.blocking(True)
        try:
            result = real_enter(self)
        finally:
            trace.unblocked(slot)
        trace.acquired(tag, True, sys._getframe(1))
        return result

    def __exit__(self: Any, *args: Any) -> Any:
        tag = _tag_of(self)
        if tag is None:
            return real_exit(self, *args)
        trace.released(tag, sys._getframe(1))
        result = real_exit(self, *args)
        _released()
        return result

    semlock.__init__, semlock._make_methods = __init__, _make_methods
    semlock.__getstate__, semlock.__setstate__ = __getstate__, __setstate__
    semlock.__enter__, semlock.__exit__ = __enter__, __exit__


# --- signal: a pending alarm may wake a process at any time --------------------------------


def _patch_signal(module: ModuleType) -> None:
    real_alarm, real_setitimer = module.alarm, module.setitimer

    def alarm(seconds: int) -> int:
        if seconds:
            trace.timer_set()
        return int(real_alarm(seconds))

    def setitimer(which: int, seconds: float, interval: float = 0.0) -> tuple[float, float]:
        if seconds:
            trace.timer_set()
        return real_setitimer(which, seconds, interval)  # type: ignore[no-any-return]

    alarm.__doc__, setitimer.__doc__ = real_alarm.__doc__, real_setitimer.__doc__
    setattr(module, "alarm", alarm)  # noqa: B010
    setattr(module, "setitimer", setitimer)  # noqa: B010


def install() -> None:
    """Patch what is already imported; patch the rest when it is first imported."""
    import _ipcgrader_ipc as ipc
    import _ipcgrader_state as state
    import _ipcgrader_waits as waits

    amplify = os.environ.get("IPCGRADER_AMPLIFY_DIR")
    if amplify:
        # queue and pipe polls: an item is visible once a taker asks for it
        wait = float(os.environ.get("IPCGRADER_AMPLIFY_WAIT") or 0)
        turns.install(amplify, wait, trace.role() == "main")
        trace.exit_hooks.append(turns.ended)

    def managers(module: ModuleType) -> None:
        ipc._patch_managers(module)
        state._patch_manager_state(module)
        waits._patch_manager_waits(module)

    def synchronize(module: ModuleType) -> None:
        _patch_synchronize(module)
        waits._patch_sync_waits(module)

    patches: dict[str, Callable[[ModuleType], None]] = {
        "signal": _patch_signal,
        "multiprocessing": _patch_start_method,
        "multiprocessing.process": _patch_process,
        "multiprocessing.synchronize": synchronize,
        "multiprocessing.queues": ipc._patch_queues,
        "multiprocessing.connection": ipc._patch_connection,
        "multiprocessing.managers": managers,
        "multiprocessing.sharedctypes": state._patch_sharedctypes,
        "threading": ipc._patch_threading,
        "fcntl": ipc.patch_fcntl,
    }
    for name in list(patches):
        module = sys.modules.get(name)
        if module is not None:
            _run_patch(patches.pop(name), module)
    sys.meta_path.insert(0, _Watcher(patches))
