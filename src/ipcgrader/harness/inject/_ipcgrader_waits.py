"""Harness patches for waits that only another process can end: ``Event.wait()``,
``Condition.wait()`` and ``Barrier.wait()`` (multiprocessing's and a Manager's), a
Manager's ``Queue``; and a Manager's server, published as a service. Standard library only.

Each such call is a ``wait`` event (``what``: ``Event``, ``Condition``, ``Barrier``) and,
when it returns, ``wait_done``; a Manager queue's ``get``/``put`` (and a JoinableQueue's
``join``/``task_done``) are recorded like a Queue's. An untimed one goes on the wait board
(``_ipcgrader_trace``), so the supervisor can tell a deadlock through them.

A Manager's objects live in its server process: a client waiting for a Manager lock, event
or queue sleeps on a socket, and a server thread sleeps in the real wait. The server acts
only on its clients' requests, so it is published as a *service* whose threads all serve
(``h``): when every client waits for good, it never wakes one of them by itself.
"""

from __future__ import annotations

import os
import sys
from _thread import get_native_id

import _ipcgrader_ipc as ipc
import _ipcgrader_trace as trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

_MARK = "_ipcgrader"
_TAG = "_ipcgrader_tag"


def _waited(tag: str, what: str, timeout: Any, untimed: bool, call: Callable[[], Any]) -> Any:
    """Run the wait ``call`` between a ``wait`` and a ``wait_done`` event, on the board
    while it lasts when ``untimed``."""
    trace.emit("wait", tag, None, what=what, timeout=timeout)
    slot = trace.blocking(untimed)
    try:
        result = call()
    except BaseException as exc:
        trace.emit("wait_done", tag, None, outcome=type(exc).__name__)
        raise
    finally:
        trace.unblocked(slot)
    trace.emit("wait_done", tag, None, outcome="ok")
    return result


# --- multiprocessing.synchronize: Event, Condition, Barrier ---------------------------------


def _patch_sync_waits(module: ModuleType) -> None:
    package = os.path.dirname(module.__file__ or "") + os.sep
    for cls, prefix in ((module.Event, "E"), (module.Condition, "C"), (module.Barrier, "B")):
        _tag_on_creation(cls, prefix, package)
    real_event_wait, real_cond_wait = module.Event.wait, module.Condition.wait
    real_barrier_wait = module.Barrier.wait

    def event_wait(self: Any, timeout: float | None = None) -> bool:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return bool(real_event_wait(self, timeout))
        return bool(_waited(tag, "Event", timeout, timeout is None,
                            lambda: real_event_wait(self, timeout)))  # fmt: skip

    def condition_wait(self: Any, timeout: float | None = None) -> bool:
        tag = self.__dict__.get(_TAG)
        if tag is None:  # an Event's or a Barrier's own: their wait() is recorded
            return bool(real_cond_wait(self, timeout))
        return bool(_waited(tag, "Condition", timeout, timeout is None,
                            lambda: real_cond_wait(self, timeout)))  # fmt: skip

    def barrier_wait(self: Any, timeout: float | None = None) -> int:
        tag = self.__dict__.get(_TAG)
        if tag is None:
            return int(real_barrier_wait(self, timeout))
        # Barrier(n, timeout=...) waits that long when wait() is given none
        untimed = timeout is None and getattr(self, "_timeout", None) is None
        return int(_waited(tag, "Barrier", timeout, untimed,
                           lambda: real_barrier_wait(self, timeout)))  # fmt: skip

    module.Event.wait, module.Condition.wait = event_wait, condition_wait
    module.Barrier.wait = barrier_wait


def _tag_on_creation(cls: Any, prefix: str, package: str) -> None:
    """Tag the objects of ``cls`` the student (or the driver) makes, not multiprocessing's
    own (an Event's or a Barrier's Condition); the tag survives pickling (spawn)."""
    real_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        if not trace.enabled():
            return
        frame = ipc._user_frame(package)
        if frame is None:
            return
        tag = trace.new_tag(prefix)
        self.__dict__[_TAG] = tag
        parties = getattr(self, "_parties", None)
        trace.emit("sync_new", tag, frame, what=cls.__name__, parties=parties)

    cls.__init__ = __init__
    real_get, real_set = cls.__dict__.get("__getstate__"), cls.__dict__.get("__setstate__")
    if real_get is None or real_set is None:
        return  # (Event) pickled by its __dict__, tag included

    def __getstate__(self: Any) -> Any:
        state = real_get(self)
        tag = self.__dict__.get(_TAG)
        return state if tag is None else (_MARK, state, tag)

    def __setstate__(self: Any, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 3 and state[0] == _MARK:
            self.__dict__[_TAG] = state[2]
            state = state[1]
        real_set(self, state)

    cls.__getstate__, cls.__setstate__ = __getstate__, __setstate__


# --- multiprocessing.managers: the server, and the proxies' waits ---------------------------


def _patch_manager_waits(module: ModuleType) -> None:
    server = module.Server
    real_serve, real_accepter, real_handle = (
        server.serve_forever,
        server.accepter,
        server.handle_request,
    )

    def serve_forever(self: Any) -> None:
        trace.service()
        trace.helper_thread(get_native_id())  # waits for the shutdown request
        real_serve(self)

    def accepter(self: Any) -> None:
        trace.helper_thread(get_native_id())  # waits for clients to connect
        real_accepter(self)

    def handle_request(self: Any, conn: Any) -> None:
        # one thread per connection: it waits for its client's next request, or in a
        # request (a lock, an event, a queue) for another client's request to end it
        native = get_native_id()
        trace.helper_thread(native)
        try:
            real_handle(self, conn)
        finally:
            trace.thread_done(native)

    server.serve_forever, server.accepter = serve_forever, accepter
    server.handle_request = handle_request

    proxy = module.BaseProxy
    real_call = proxy._callmethod

    def _callmethod(self: Any, methodname: str, args: Any = (), kwds: Any = None) -> Any:
        kwds = {} if kwds is None else kwds
        typeid = getattr(self._token, "typeid", None)
        if methodname == "wait" and typeid in ("Event", "Condition", "Barrier"):
            return _proxy_wait(self, typeid, args, kwds, real_call)
        if methodname in ("get", "put") and typeid in ("Queue", "JoinableQueue"):
            return _proxy_queue_call(self, methodname, args, kwds, real_call)
        if methodname in ("join", "task_done") and typeid == "JoinableQueue":
            return _proxy_queue_join(self, methodname, args, kwds, real_call)
        return real_call(self, methodname, args, kwds)

    proxy._callmethod = _callmethod


def _proxy_tag(proxy: Any) -> str:
    token = proxy._token
    return f"M{token.id}@{token.address}"


def _proxy_wait(proxy: Any, typeid: str, args: Any, kwds: Any, real: Any) -> Any:
    timeout = args[0] if args else kwds.get("timeout")
    untimed = timeout is None
    if untimed and typeid == "Barrier":
        try:  # a Barrier made with a timeout waits that long when wait() is given none
            untimed = real(proxy, "__getattribute__", ("_timeout",), {}) is None
        except Exception:
            untimed = False
    tag = _proxy_tag(proxy)
    frame = sys._getframe(2)
    # a Condition's wait releases its lock in the server and takes it again after
    times = trace.held.get(tag, 0) if typeid == "Condition" else 0
    for _ in range(times):
        trace.released(tag, frame)
    result = _waited(tag, typeid, timeout, untimed, lambda: real(proxy, "wait", args, kwds))
    for _ in range(times):
        trace.emit("acquire", tag, frame, block=True)
        trace.acquired(tag, True, frame)
    return result


def _proxy_queue_call(proxy: Any, kind: str, args: Any, kwds: Any, real: Any) -> Any:
    rest = args[1:] if kind == "put" else args
    block = rest[0] if rest else kwds.get("block", True)
    timeout = rest[1] if len(rest) > 1 else kwds.get("timeout")
    tag = _proxy_tag(proxy)
    trace.emit(kind, tag, None, block=bool(block), timeout=timeout)
    slot = trace.blocking(bool(block) and timeout is None)
    try:
        result = real(proxy, kind, args, kwds)
    except BaseException as exc:
        trace.emit(f"{kind}_done", tag, None, outcome=type(exc).__name__)
        raise
    finally:
        trace.unblocked(slot)
    trace.emit(f"{kind}_done", tag, None, outcome="ok")
    return result


def _proxy_queue_join(proxy: Any, kind: str, args: Any, kwds: Any, real: Any) -> Any:
    """A Manager JoinableQueue's ``join()`` (on the board: only a client's ``task_done()``
    can end it) and ``task_done()``, recorded like multiprocessing's own."""
    tag = _proxy_tag(proxy)
    if kind == "task_done":
        result = real(proxy, kind, args, kwds)
        trace.emit("task_done", tag, None, outcome="ok")
        return result
    trace.emit("queue_join", tag, None)
    slot = trace.blocking(True)
    try:
        result = real(proxy, kind, args, kwds)
    except BaseException as exc:
        trace.emit("queue_joined", tag, None, outcome=type(exc).__name__)
        raise
    finally:
        trace.unblocked(slot)
    trace.emit("queue_joined", tag, None, outcome="ok")
    return result
