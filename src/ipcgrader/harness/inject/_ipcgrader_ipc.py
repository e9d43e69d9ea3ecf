"""Harness patches for queues, pipes, Manager locks, threading locks and fcntl locks.

Standard library only; installed by :mod:`_ipcgrader_mp` when each module is first imported.
Queues and pipes are tagged where the student creates them and keep their tag through
pickling (spawn); Manager lock proxies are named by their token, the same everywhere.
"""

from __future__ import annotations

import os
import sys

import _ipcgrader_mp as mp
import _ipcgrader_trace as trace
import _ipcgrader_turns as turns

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType, ModuleType
    from typing import Any

_MARK = "_ipcgrader"
_TAG = "_ipcgrader_tag"


def _user_frame(package: str) -> FrameType | None:
    """The frame that called into multiprocessing, or None when multiprocessing itself
    made the object (a Pool's queues, a Queue's pipe)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        if not frame.f_code.co_filename.endswith("context.py"):
            return None
        frame = frame.f_back
    return frame


# --- queues ---------------------------------------------------------------------------------


def _patch_queues(module: ModuleType) -> None:
    package = os.path.dirname(module.__file__ or "") + os.sep
    full, empty = module.Full, module.Empty
    for cls in (module.Queue, module.JoinableQueue, module.SimpleQueue):
        _patch_queue_class(cls, package, full, empty)


def _patch_queue_class(
    cls: Any, package: str, full: type[BaseException], empty: type[BaseException]
) -> None:
    real_init, real_get_state, real_set_state = cls.__init__, cls.__getstate__, cls.__setstate__
    real_put, real_get = cls.__dict__.get("put"), cls.__dict__.get("get")

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        if _TAG in self.__dict__ or not trace.enabled():
            return  # JoinableQueue.__init__ calls Queue.__init__: tag once
        frame = _user_frame(package)
        if frame is None:
            return
        tag = trace.new_tag("Q")
        self.__dict__[_TAG] = tag
        maxsize = getattr(self, "_maxsize", 0)
        limited = isinstance(maxsize, int) and 0 < maxsize < 2**31 - 1
        trace.emit("queue_new", tag, frame, queue=cls.__name__, maxsize=maxsize if limited else 0)

    def __getstate__(self: Any) -> Any:
        state = real_get_state(self)
        tag = self.__dict__.get(_TAG)
        return state if tag is None or cls.__name__ == "JoinableQueue" else (_MARK, state, tag)

    def __setstate__(self: Any, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 3 and state[0] == _MARK:
            self.__dict__[_TAG] = state[2]
            state = state[1]
        real_set_state(self, state)

    cls.__init__, cls.__getstate__, cls.__setstate__ = __init__, __getstate__, __setstate__
    real_start = cls.__dict__.get("_start_thread")
    if real_start is not None:

        def _start_thread(self: Any) -> None:
            tag = self.__dict__.get(_TAG)
            send = getattr(self, "_send_bytes", None)
            if tag is None or send is None or not turns.active():
                real_start(self)
            else:
                # the feeder makes each item visible: it waits there for a taker's ask
                self._send_bytes = _held_send(send, tag)
                try:
                    real_start(self)
                finally:
                    self._send_bytes = send
            # the feeder waits only for this process's puts or the queue's readers
            trace.helper_thread(getattr(getattr(self, "_thread", None), "native_id", None))

        cls._start_thread = _start_thread
    real_finalize_join = cls.__dict__.get("_finalize_join")
    if isinstance(real_finalize_join, staticmethod):
        join_feeder = real_finalize_join.__func__

        def _finalize_join(twr: Any) -> None:
            # at exit, a process waits for its feeder to flush what it put: for a reader
            slot = trace.blocking(True)
            try:
                join_feeder(twr)
            finally:
                trace.unblocked(slot)

        cls._finalize_join = staticmethod(_finalize_join)
    for method in ("empty", "qsize"):
        real_look = cls.__dict__.get(method)
        if real_look is not None:
            setattr(cls, method, _traced_look(method, real_look))
    real_join, real_task_done = cls.__dict__.get("join"), cls.__dict__.get("task_done")
    if real_join is not None and real_task_done is not None:
        cls.join, cls.task_done = _traced_join(real_join), _traced_task_done(real_task_done)
    simple = cls.__name__ == "SimpleQueue"
    if real_put is not None:
        cls.put = _traced_call("put", real_put, full, simple)
    if real_get is not None:
        cls.get = _traced_call("get", real_get, empty, simple)


def _waits(block: Any, timeout: Any) -> bool:
    """Whether a get (or a pipe's poll) with these arguments waits for an item."""
    if not block:
        return False
    try:
        return timeout is None or timeout > 0
    except TypeError:
        return True  # the real call will complain


def _held_send(send: Any, inbox: str) -> Any:
    """``send`` that first waits, at ``inbox``, for a taker to ask for the item."""

    def held(data: Any) -> Any:
        marked = turns.hold(inbox)
        try:
            result = send(data)
            turns.counted(inbox, sent=1)  # before the marker goes: a look waits for it
            return result
        finally:
            turns.let_through(inbox, marked)

    return held


def _traced_look(method: str, real: Any) -> Any:
    """``empty()`` / ``qsize()``: a look at the queue, recorded with what it saw (a poll
    that found nothing and ended a loop can miss an item not put yet). ``qsize()`` counts
    puts, a held item too: amplified, it counts what has been let through instead."""

    def look(self: Any) -> Any:
        tag = self.__dict__.get(_TAG)
        if tag is not None:
            turns.before_look(tag, _room(self))
        result = real(self)
        if tag is not None and method == "qsize" and turns.active():
            result = min(result, turns.released(tag))
        if tag is not None:
            trace.emit(
                "poll",
                tag,
                None,
                method=method,
                empty=not result if method == "qsize" else bool(result),
            )
            turns.asked(tag, look=True)
        return result

    look.__name__ = method
    look.__doc__ = getattr(real, "__doc__", None)
    return look


def _room(queue: Any) -> Any:
    """Whether ``queue`` (bounded) has room now; None for one that cannot be full."""
    full = getattr(queue, "full", None)
    return None if full is None else lambda: not full()


def _students(frame: FrameType | None) -> bool:
    """Whether the student's code made this call (``frame``: the caller): it is the
    student's own file, or a driver's function that passes the student's call on as it
    is (named in its module's ``IPCGRADER_FORWARDS``). A driver's own timed waits are not
    the student's: they must wait as before."""
    while frame is not None:
        if trace.is_student_file(frame.f_code.co_filename):
            return True
        if frame.f_code.co_name not in frame.f_globals.get("IPCGRADER_FORWARDS", ()):
            return False
        frame = frame.f_back
    return False


def _traced_call(kind: str, real: Any, refusal: type[BaseException], simple: bool = False) -> Any:
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real(self, *args, **kwargs)
        rest = args[1:] if kind == "put" else args
        block = rest[0] if rest else kwargs.get("block", True)
        timeout = rest[1] if len(rest) > 1 else kwargs.get("timeout")
        trace.emit(kind, tag, None, block=bool(block), timeout=timeout)
        # a get that waits asks for an item before it waits; one that does not, after
        look = kind == "get" and not _waits(block, timeout)
        marked = False
        if look:
            turns.before_look(tag, _room(self))
        elif kind == "get" and timeout is not None and _students(sys._getframe(1)):
            # a timed get of the student's: nothing let through yet is a look (turns)
            poll = getattr(self, "_poll", None)
            ready = poll if poll is not None else lambda: True
            if turns.at_once(tag, ready, _room(self)):
                trace.emit("get_done", tag, None, outcome=refusal.__name__)
                raise refusal()
        elif kind == "get":
            turns.asked(tag, look=False)
        elif kind == "put":
            turns.produced(tag, 0, putting=True)  # known as a producer, in a put now
            if simple:
                marked = turns.hold(tag)  # a SimpleQueue writes the item itself
        untimed = bool(block) and timeout is None
        slot = trace.blocking(untimed)
        if untimed:
            turns.waiting(True)
        try:
            result = real(self, *args, **kwargs)
        except refusal:
            if kind == "put":
                turns.produced(tag, 0)  # not put: out of the put
            trace.emit(f"{kind}_done", tag, None, outcome=refusal.__name__)
            raise
        except BaseException as exc:
            if kind == "put":
                turns.produced(tag, 0)
            trace.emit(f"{kind}_done", tag, None, outcome=type(exc).__name__)
            raise
        finally:
            trace.unblocked(slot)
            if untimed:
                turns.waiting(False)
            if look:
                turns.asked(tag, look=True)
            if marked:  # sent (or failed): counted before the marker goes
                turns.counted(tag, sent=1)
            turns.let_through(tag, marked)
        if kind == "get":
            turns.counted(tag, took=1)
        else:  # in the queue (its feeder's buffer): a look waits until it is held or sent
            turns.produced(tag)
        trace.emit(f"{kind}_done", tag, None, outcome="ok")
        return result

    call.__name__ = kind
    call.__doc__ = getattr(real, "__doc__", None)
    return call


def _traced_join(real: Any) -> Any:
    """``JoinableQueue.join()``: a ``queue_join`` event and, when it returns,
    ``queue_joined``; on the wait board while it waits. Only a ``task_done()`` of a process
    that runs can end it (the count of unfinished items drops nowhere else), so a run whose
    every process waits like this, or in another untimed wait, is deadlocked."""

    def join(self: Any) -> None:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real(self)  # type: ignore[no-any-return]
        trace.emit("queue_join", tag, None)
        slot = trace.blocking(True)
        turns.waiting(True)
        try:
            real(self)
        except BaseException as exc:
            trace.emit("queue_joined", tag, None, outcome=type(exc).__name__)
            raise
        finally:
            trace.unblocked(slot)
            turns.waiting(False)
        trace.emit("queue_joined", tag, None, outcome="ok")
        return None

    join.__doc__ = getattr(real, "__doc__", None)
    return join


def _traced_task_done(real: Any) -> Any:
    """``JoinableQueue.task_done()``: a ``task_done`` event (what a join() waits for)."""

    def task_done(self: Any) -> None:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real(self)  # type: ignore[no-any-return]
        try:
            real(self)
        except BaseException as exc:
            trace.emit("task_done", tag, None, outcome=type(exc).__name__)
            raise
        trace.emit("task_done", tag, None, outcome="ok")
        return None

    task_done.__doc__ = getattr(real, "__doc__", None)
    return task_done


# --- pipes ----------------------------------------------------------------------------------


def _rebuild_connection(rebuild: Any, args: Any, tag: str) -> Any:
    """Unpickle a tagged pipe end (runs in the child)."""
    connection = rebuild(*args)
    connection.__dict__[_TAG] = tag
    return connection


def _patch_connection(module: ModuleType) -> None:
    package = os.path.dirname(module.__file__ or "") + os.sep
    real_pipe = module.Pipe
    base = module._ConnectionBase
    real_send, real_recv, real_poll = base.send, base.recv, base.poll

    def Pipe(duplex: bool = True) -> Any:
        ends = real_pipe(duplex)
        frame = _user_frame(package)
        if frame is not None and trace.enabled():
            tag = trace.new_tag("P")
            ends[0].__dict__[_TAG] = f"{tag}:0"
            ends[1].__dict__[_TAG] = f"{tag}:1"
            trace.emit("pipe_new", tag, frame, duplex=bool(duplex))
        return ends

    def send(self: Any, obj: Any) -> None:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real_send(self, obj)  # type: ignore[no-any-return]
        pipe, _, end = tag.partition(":")
        trace.emit("send", pipe, None, end=int(end or 0))
        # what is sent on one end arrives at the other: wait there for its reader to ask
        inbox = f"{pipe}:{1 - int(end or 0)}"
        turns.produced(inbox)
        marked = turns.hold(inbox)
        slot = trace.blocking(True)
        try:
            real_send(self, obj)
            turns.counted(inbox, sent=1)
        except BaseException as exc:
            trace.emit("send_done", pipe, None, end=int(end or 0), outcome=type(exc).__name__)
            raise
        finally:
            trace.unblocked(slot)
            turns.let_through(inbox, marked)
        trace.emit("send_done", pipe, None, end=int(end or 0), outcome="ok")
        return None

    def poll(self: Any, timeout: Any = 0.0) -> Any:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real_poll(self, timeout)
        pipe, _, end = tag.partition(":")
        waits = _waits(True, timeout)
        # only the student's own polls are judged (a driver waiting in a loop of timed
        # polls inside its recv() is no reader that can miss a message)
        students = trace.is_student_file(sys._getframe(1).f_code.co_filename)
        if waits and timeout is not None and students:
            # a timed poll of the student's: nothing let through yet is a look (turns)
            if turns.at_once(tag, lambda: bool(real_poll(self, 0))):
                trace.emit(
                    "poll", pipe, None, end=int(end or 0), method="poll", timeout=timeout,
                    empty=True,
                )  # fmt: skip
                return False
        elif waits:
            turns.asked(tag, look=False)
        else:
            turns.before_look(tag)
        result = real_poll(self, timeout)
        if students:
            trace.emit(
                "poll", pipe, None, end=int(end or 0), method="poll", timeout=timeout,
                empty=not result,
            )  # fmt: skip
        if not waits:
            turns.asked(tag, look=True)
        return result

    def recv(self: Any) -> Any:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return real_recv(self)
        pipe, _, end = tag.partition(":")
        trace.emit("recv", pipe, None, end=int(end or 0))
        turns.asked(tag, look=False)
        slot = trace.blocking(True)
        turns.waiting(True)
        try:
            result = real_recv(self)
        except BaseException as exc:
            trace.emit("recv_done", pipe, None, end=int(end or 0), outcome=type(exc).__name__)
            raise
        finally:
            trace.unblocked(slot)
            turns.waiting(False)
        turns.counted(tag, took=1)
        trace.emit("recv_done", pipe, None, end=int(end or 0), outcome="ok")
        return result

    real_reduce = getattr(module, "reduce_connection", None)

    def reduce_connection(connection: Any) -> Any:
        rebuild, args = real_reduce(connection)  # type: ignore[misc]
        tag = connection.__dict__.get(_TAG)
        if tag is None:
            return rebuild, args
        return _rebuild_connection, (rebuild, args, tag)

    setattr(module, "Pipe", Pipe)  # noqa: B010 - mypy: ModuleType has no Pipe
    base.send, base.recv, base.poll = send, recv, poll
    if real_reduce is not None and hasattr(module, "Connection"):
        module.reduction.register(module.Connection, reduce_connection)


# --- Manager lock proxies -------------------------------------------------------------------


def _patch_managers(module: ModuleType) -> None:
    _swap_manager_registry()
    proxy = module.AcquirerProxy
    real_acquire, real_release = proxy.acquire, proxy.release
    announced: set[str] = set()

    def tag_of(self: Any) -> str:
        token = self._token
        tag = f"M{token.id}@{token.address}"
        if tag not in announced and trace.enabled():
            announced.add(tag)
            trace.emit("lock_new", tag, None, lock=f"Manager.{token.typeid}", value=None)
        return tag

    def acquire(self: Any, blocking: bool = True, timeout: float | None = None) -> Any:
        tag = tag_of(self)
        trace.emit("acquire", tag, None, block=bool(blocking), timeout=timeout)
        slot = trace.blocking(bool(blocking) and timeout is None)
        try:
            ok = real_acquire(self, blocking, timeout)
        finally:
            trace.unblocked(slot)
        trace.acquired(tag, bool(ok), sys._getframe(1))
        return ok

    def release(self: Any) -> Any:
        tag = tag_of(self)
        trace.released(tag, sys._getframe(1))
        result = real_release(self)
        mp._released()
        return result

    def __enter__(self: Any) -> Any:
        return acquire(self)

    def __exit__(self: Any, *args: Any) -> Any:
        return release(self)

    proxy.acquire, proxy.release, proxy.__enter__, proxy.__exit__ = (
        acquire,
        release,
        __enter__,
        __exit__,
    )


# --- threading locks made by the student ----------------------------------------------------


class _ThreadLock:
    """A threading lock the student made, recorded like the others but marked ``T``: it
    cannot exclude another process (each process has its own copy)."""

    def __init__(self, lock: Any, tag: str) -> None:
        self._lock = lock
        self._tag = tag

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        trace.emit("acquire", self._tag, None, block=bool(blocking))
        slot = trace.blocking(bool(blocking) and timeout == -1)
        try:
            ok = bool(self._lock.acquire(blocking, timeout))
        finally:
            trace.unblocked(slot)
        trace.acquired(self._tag, ok, sys._getframe(1))
        return ok

    def release(self) -> None:
        trace.released(self._tag, sys._getframe(1))
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *args: object) -> None:
        self.release()

    def locked(self) -> bool:
        return bool(self._lock.locked())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lock, name)

    def __reduce__(self) -> Any:
        raise TypeError(f"cannot pickle '{type(self._lock).__name__}' object")

    def __repr__(self) -> str:
        return repr(self._lock)


#: threading's own Lock and RLock -> what replaced them
_replaced: dict[Any, Any] = {}


def _patch_threading(module: ModuleType) -> None:
    for name in ("Lock", "RLock"):
        real = getattr(module, name)
        factory = _thread_lock_factory(real, name)
        _replaced[real] = factory
        setattr(module, name, factory)
    _swap_manager_registry()


def _swap_manager_registry() -> None:
    """A Manager's registry names ``threading.Lock``/``RLock`` (its Lock() and RLock()
    types) and is pickled to start its server under spawn. Pickle finds a function by
    its name: holding the originals, replaced in ``threading``, it would fail ("not the
    same object as threading.RLock"); with our factories it pickles them by name."""
    managers = sys.modules.get("multiprocessing.managers")
    registry = getattr(getattr(managers, "SyncManager", None), "_registry", None)
    if not _replaced or not isinstance(registry, dict):
        return
    for typeid, entry in list(registry.items()):
        if entry and entry[0] in _replaced:
            registry[typeid] = (_replaced[entry[0]], *entry[1:])


def _thread_lock_factory(real: Any, name: str) -> Any:
    def factory(*args: Any, **kwargs: Any) -> Any:
        lock = real(*args, **kwargs)
        frame = sys._getframe(1)
        if not trace.enabled() or not trace.is_student_file(frame.f_code.co_filename):
            return lock
        tag = trace.new_tag("T")
        trace.emit("lock_new", tag, frame, lock=f"threading.{name}", value=1)
        return _ThreadLock(lock, tag)

    factory.__name__ = factory.__qualname__ = name
    factory.__module__ = "threading"  # pickled by name, as threading's own (a Manager's)
    factory.__doc__ = getattr(real, "__doc__", None)
    return factory


# --- fcntl.flock / fcntl.lockf --------------------------------------------------------------


#: file-lock tags of files in the run's own folder
_run_files: set[str] = set()


def patch_fcntl(module: ModuleType) -> None:
    """Record ``flock``/``lockf`` as locks named by the locked file's inode."""
    real_flock, real_lockf = module.flock, module.lockf
    unlock, shared, nonblocking = module.LOCK_UN, module.LOCK_SH, module.LOCK_NB

    def locked(kind: str, real: Any, fd: Any, operation: int, *rest: Any) -> Any:
        if not trace.enabled():
            return real(fd, operation, *rest)
        number = fd if isinstance(fd, int) else fd.fileno()
        stat = os.fstat(number)
        tag = f"F{stat.st_dev}:{stat.st_ino}"
        frame = sys._getframe(2)
        if tag not in trace.file_locks and tag not in trace.held:
            try:
                path = os.readlink(f"/proc/self/fd/{number}")
            except OSError:
                path = ""
            # only a file of the run's own folder is locked by nobody but the run
            if trace.is_student_file(path):
                _run_files.add(tag)
            name = os.path.basename(path) or None
            trace.emit("lock_new", tag, frame, lock=kind, value=1, name=name)
        if operation & ~nonblocking == unlock:
            trace.file_locks.pop(tag, None)
            trace.released(tag, frame)
            result = real(fd, operation, *rest)
            mp._released()
            return result
        mode = "sh" if operation & shared else "ex"
        trace.emit("acquire", tag, frame, block=not operation & nonblocking, mode=mode)
        # a file outside the run's folder may be locked by a process outside the run, which
        # can release it at any time: then this wait is never part of a deadlock
        slot = trace.blocking(not operation & nonblocking and tag in _run_files)
        try:
            result = real(fd, operation, *rest)
        except OSError:
            trace.emit("acquired", tag, frame, ok=False, mode=mode)
            raise
        finally:
            trace.unblocked(slot)
        if tag not in trace.held:
            trace.acquired(tag, True, frame, mode=mode)
        else:
            trace.emit("acquired", tag, frame, ok=True, mode=mode)
        trace.file_locks[tag] = (number, stat.st_dev, stat.st_ino)
        return result

    def flock(fd: Any, operation: int) -> Any:
        return locked("flock", real_flock, fd, operation)

    def lockf(fd: Any, cmd: int, *rest: Any) -> Any:
        return locked("lockf", real_lockf, fd, cmd, *rest)

    flock.__doc__, lockf.__doc__ = real_flock.__doc__, real_lockf.__doc__
    setattr(module, "flock", flock)  # noqa: B010
    setattr(module, "lockf", lockf)  # noqa: B010
