"""Harness patches for shared state that is not a file: ``multiprocessing.Value`` and
``Array``, ``Manager().dict()`` and ``Manager().Value``. Standard library only.

Each access is a ``read`` or ``write`` event like a shared file's, with ``state`` saying
what kind of object it is and ``obj`` naming the very object (and the key or index), so
the same race and atomicity analyses judge them. A ``Value``'s own lock (``get_lock()``,
which multiprocessing makes for itself) is traced as a lock, so that
``with counter.get_lock(): counter.value += 1`` counts as protected. The event is recorded
before the wrapper takes that lock for the single access: one ``.value`` read is atomic,
a read and a write are two steps.
"""

from __future__ import annotations

import sys

import _ipcgrader_mp as mp
import _ipcgrader_trace as trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType
    from typing import Any


def _key(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    prop = module.Synchronized.value
    real_get, real_set = prop.fget, prop.fset

    def get_value(self: Any) -> Any:
        tag = _state_tag(self)
        if tag is not None:
            trace.emit("read", tag, None, state="Value")
        return real_get(self)

    def set_value(self: Any, value: Any) -> None:
        tag = _state_tag(self)
        if tag is not None:
            trace.emit("write", tag, None, state="Value")
        real_set(self, value)

    module.Synchronized.value = property(get_value, set_value)
    array = module.SynchronizedArray
    real_getitem, real_setitem = array.__getitem__, array.__setitem__

    def __getitem__(self: Any, index: Any) -> Any:
        tag = _state_tag(self)
        if tag is not None:
            trace.emit("read", f"{tag}[{_key(index)}]", None, state="Array")
        return real_getitem(self, index)

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        tag = _state_tag(self)
        if tag is not None:
            trace.emit("write", f"{tag}[{_key(index)}]", None, state="Array")
        real_setitem(self, index, value)

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
        trace.emit("read", f"{proxy_tag(self)}[{_key(key)}]", None, state="Manager.dict")
        return real_dget(self, key)

    def get(self: Any, key: Any, *default: Any) -> Any:
        trace.emit("read", f"{proxy_tag(self)}[{_key(key)}]", None, state="Manager.dict")
        return real_get(self, key, *default)

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        trace.emit("write", f"{proxy_tag(self)}[{_key(key)}]", None, state="Manager.dict")
        real_dset(self, key, value)

    dict_proxy.__getitem__, dict_proxy.__setitem__, dict_proxy.get = __getitem__, __setitem__, get

    value_proxy = module.ValueProxy
    real_vget, real_vset = value_proxy.get, value_proxy.set

    def vget(self: Any) -> Any:
        trace.emit("read", proxy_tag(self), None, state="Manager.Value")
        return real_vget(self)

    def vset(self: Any, value: Any) -> None:
        trace.emit("write", proxy_tag(self), None, state="Manager.Value")
        real_vset(self, value)

    value_proxy.get, value_proxy.set = vget, vset
    value_proxy.value = property(vget, vset)
