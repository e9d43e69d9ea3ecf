"""Harness patches for shared state that is not a file: ``multiprocessing.Value`` and
``Array``, ``Manager().dict()`` and ``Manager().Value``. Standard library only.

Each access is a ``read`` or ``write`` event like a shared file's, with ``state`` saying
what kind of object it is, ``obj`` naming the very object (and the key or index), the
student's ``stack``, and ``value``: what the read returned, what the write stores (when it
is short), so the same race and atomicity analyses judge them and ``final_state`` can say
what the object held at the end. A ``Value``'s own lock (``get_lock()``, which
multiprocessing makes for itself) is traced as a lock, so that
``with counter.get_lock(): counter.value += 1`` counts as protected. A write is recorded
before the wrapper takes that lock for the single access, a read once it returned: one
``.value`` read is atomic, a read and a write are two steps. Amplification treats an
unprotected read like one of a shared file (``_ipcgrader_files.amplify``).
"""

from __future__ import annotations

import sys
import zlib

import _ipcgrader_files as files
import _ipcgrader_mp as mp
import _ipcgrader_trace as trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def _key(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: the longest value (as JSON-like text) an event carries; longer ones are left out
_MAX_VALUE = 200
_NO_VALUE = object()


def _shown(value: Any) -> Any:
    """``value`` as an event field, or ``_NO_VALUE`` when it is too long to record."""
    if isinstance(value, bytes):
        value = repr(value)
    elif isinstance(value, (list, tuple)):
        value = [_shown(v) for v in value]
        if any(v is _NO_VALUE for v in value):
            return _NO_VALUE
    elif not isinstance(value, (bool, int, float, str)) and value is not None:
        value = repr(value)
    return _NO_VALUE if len(repr(value)) > _MAX_VALUE else value


def _access(op: str, obj: str, state: str, value: Any, frame: Any) -> None:
    """Record one access of shared state (with ``value`` when it is short) and let
    amplification see it: all elements of one Array or keys of one dict meet together."""
    shown = _shown(value)
    extra = {} if shown is _NO_VALUE else {"value": shown}
    trace.emit(op, obj, frame, state=state, stack=trace.student_stack(frame), **extra)
    container = obj.partition("[")[0]
    files.amplify(f"v{zlib.crc32(container.encode()):08x}", obj, op, frame)


# --- multiprocessing.Value and Array ------------------------------------------------------


def _traced_lock(lock: Any, what: str) -> None:
    """Tag and wrap the lock a Value or Array makes for itself (not the student's, but the
    one ``get_lock()`` hands them)."""
    if not trace.enabled() or mp._tag_of(lock) is not None or not hasattr(lock, "_semlock"):
        return
    tag = trace.new_tag("L")
    lock.__dict__[mp._TAG] = tag
    frame = sys._getframe(2)
    file, line = trace.student_location(frame)
    origin = f"{file}:{line}" if file is not None else mp._origin(frame)
    trace.emit("lock_new", tag, frame, lock=what, value=1, origin=origin)
    mp._wrap_semlock(lock, tag)


def _state_tag(wrapper: Any) -> str | None:
    """``V`` + the tag of the wrapper's lock: the same object in every process."""
    tag = mp._tag_of(getattr(wrapper, "_lock", None))
    return None if tag is None else f"V{tag}"


def _patch_sharedctypes(module: ModuleType) -> None:
    real_value, real_array = module.Value, module.Array

    def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> Any:
        if lock in (True, None):
            import multiprocessing

            lock = (ctx or multiprocessing.get_context()).RLock()
            _traced_lock(lock, "Value.get_lock()")
        return real_value(typecode_or_type, *args, lock=lock, ctx=ctx)

    def Array(typecode_or_type: Any, size: Any, *, lock: Any = True, ctx: Any = None) -> Any:
        if lock in (True, None):
            import multiprocessing

            lock = (ctx or multiprocessing.get_context()).RLock()
            _traced_lock(lock, "Array.get_lock()")
        return real_array(typecode_or_type, size, lock=lock, ctx=ctx)

    setattr(module, "Value", Value)  # noqa: B010 - a module attribute mypy cannot see
    setattr(module, "Array", Array)  # noqa: B010

    def raw(self: Any, do: Any, *args: Any) -> Any:
        """``do(*args)`` under the object's own lock, taken without tracing: one access is
        one event, not four, and the lock a Value makes for itself is no lock the student
        released (their ``with v.get_lock():`` is traced as usual)."""
        semlock = getattr(getattr(self, "_lock", None), "_semlock", None)
        if semlock is None:
            with self:
                return do(*args)
        semlock.acquire()
        try:
            return do(*args)
        finally:
            semlock.release()

    def get_value(self: Any) -> Any:
        value = raw(self, getattr, self._obj, "value")
        tag = _state_tag(self)
        if tag is not None:
            _access("read", tag, "Value", value, sys._getframe(1))
        return value

    def set_value(self: Any, value: Any) -> None:
        tag = _state_tag(self)
        if tag is not None:
            _access("write", tag, "Value", value, sys._getframe(1))
        raw(self, setattr, self._obj, "value", value)

    module.Synchronized.value = property(get_value, set_value)
    array = module.SynchronizedArray

    def __getitem__(self: Any, index: Any) -> Any:
        value = raw(self, self._obj.__getitem__, index)
        tag = _state_tag(self)
        if tag is not None:
            _access("read", f"{tag}[{_key(index)}]", "Array", value, sys._getframe(1))
        return value

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        tag = _state_tag(self)
        if tag is not None:
            _access("write", f"{tag}[{_key(index)}]", "Array", value, sys._getframe(1))
        raw(self, self._obj.__setitem__, index, value)

    array.__getitem__, array.__setitem__ = __getitem__, __setitem__


# --- Manager().dict() and Manager().Value -------------------------------------------------


def _patch_manager_state(module: ModuleType) -> None:
    def proxy_tag(self: Any) -> str:
        token = self._token
        return f"D{token.id}@{token.address}"

    dict_proxy = module.DictProxy
    real_dget, real_dset = dict_proxy.__getitem__, dict_proxy.__setitem__
    real_get = dict_proxy.get

    def __getitem__(self: Any, key: Any) -> Any:
        obj = f"{proxy_tag(self)}[{_key(key)}]"
        try:
            value = real_dget(self, key)
        except BaseException:
            _access("read", obj, "Manager.dict", _NO_VALUE, sys._getframe(1))
            raise
        _access("read", obj, "Manager.dict", value, sys._getframe(1))
        return value

    def get(self: Any, key: Any, *default: Any) -> Any:
        value = real_get(self, key, *default)
        _access("read", f"{proxy_tag(self)}[{_key(key)}]", "Manager.dict", value, sys._getframe(1))
        return value

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        obj = f"{proxy_tag(self)}[{_key(key)}]"
        _access("write", obj, "Manager.dict", value, sys._getframe(1))
        real_dset(self, key, value)

    dict_proxy.__getitem__, dict_proxy.__setitem__, dict_proxy.get = __getitem__, __setitem__, get

    value_proxy = module.ValueProxy
    real_vget, real_vset = value_proxy.get, value_proxy.set

    def vget(self: Any) -> Any:
        value = real_vget(self)
        _access("read", proxy_tag(self), "Manager.Value", value, sys._getframe(1))
        return value

    def vset(self: Any, value: Any) -> None:
        _access("write", proxy_tag(self), "Manager.Value", value, sys._getframe(1))
        real_vset(self, value)

    value_proxy.get, value_proxy.set = vget, vset
    value_proxy.value = property(vget, vset)
