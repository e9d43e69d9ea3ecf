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

``RawValue``, ``RawArray`` and a ``Value`` or ``Array`` made with ``lock=False`` are plain
ctypes objects in shared memory, with no wrapper to patch: each becomes an instance of a
subclass of its own ctypes type (made once per type, named like it) whose ``.value`` or
indexing records the access (``_raw_type``). Only these objects change class, never
ctypes itself, so every other ctypes object costs nothing; ``isinstance``, ``len``,
iteration, slicing, ``repr`` and ``sizeof`` are the original type's. Their tag travels
with the shared memory's ``BufferWrapper``, so a spawn child rebuilds the same traced
object (``_rebuild_raw``).
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


def _emit(op: str, obj: str, state: str, value: Any, frame: Any) -> None:
    """Record one access of shared state, with ``value`` when it is short."""
    shown = _shown(value)
    extra = {} if shown is _NO_VALUE else {"value": shown}
    trace.emit(op, obj, frame, state=state, stack=trace.student_stack(frame), **extra)


def _meet(op: str, obj: str, frame: Any) -> None:
    """Let amplification see an access: all elements of one Array or keys of one dict meet
    together."""
    container = obj.partition("[")[0]
    files.amplify(f"v{zlib.crc32(container.encode()):08x}", obj, op, frame)


def _access(op: str, obj: str, state: str, value: Any, frame: Any) -> None:
    """Record one access of shared state and let amplification see it."""
    _emit(op, obj, state, value, frame)
    _meet(op, obj, frame)


#: a slice of at most this many elements is recorded element by element (a longer one is
#: one event for the slice, which final_state leaves out: the event cap is 50 000)
_SLICE_ELEMENTS = 64


def _elements(op: str, tag: str, index: Any, value: Any, length: int, frame: Any) -> None:
    """Record ``array[index]`` read (``value`` is what it returned) or written (``value``
    is what it stores) as accesses of the elements it touches: ``a[-1]`` is ``a[n-1]``
    and ``a[:]`` is each element, so they race with ``a[i]`` and their values count."""
    if isinstance(index, int) and not isinstance(index, bool):
        _access(op, f"{tag}[{index + length if index < 0 else index}]", "Array", value, frame)
        return
    if isinstance(index, slice):
        positions = range(*index.indices(length))
        if len(positions) <= _SLICE_ELEMENTS:
            items: list[Any] = [_NO_VALUE] * len(positions)
            if isinstance(value, (list, tuple, bytes, str)) and len(value) == len(positions):
                # (a write of another length is refused by ctypes: recorded without values)
                items = [
                    value[n : n + 1] if isinstance(value, (bytes, str)) else value[n]
                    for n in range(len(value))
                ]
            for position, item in zip(positions, items, strict=True):
                _emit(op, f"{tag}[{position}]", "Array", item, frame)
            if positions:
                _meet(op, f"{tag}[{positions[0]}]", frame)
            return
    _access(op, f"{tag}[{_key(index)}]", "Array", value, frame)


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
    real_raw_value, real_raw_array = module.RawValue, module.RawArray
    # Value and Array call RawValue / RawArray for the memory they wrap: that object is the
    # wrapper's business (its accesses are recorded there), or, with lock=False, traced below
    wrapping = {real_value.__code__, real_array.__code__}

    def Value(typecode_or_type: Any, *args: Any, lock: Any = True, ctx: Any = None) -> Any:
        if lock in (True, None):
            import multiprocessing

            lock = (ctx or multiprocessing.get_context()).RLock()
            _traced_lock(lock, "Value.get_lock()")
        made = real_value(typecode_or_type, *args, lock=lock, ctx=ctx)
        return _traced_raw(made) if lock is False else made

    def Array(typecode_or_type: Any, size: Any, *, lock: Any = True, ctx: Any = None) -> Any:
        if lock in (True, None):
            import multiprocessing

            lock = (ctx or multiprocessing.get_context()).RLock()
            _traced_lock(lock, "Array.get_lock()")
        made = real_array(typecode_or_type, size, lock=lock, ctx=ctx)
        return _traced_raw(made) if lock is False else made

    def RawValue(typecode_or_type: Any, *args: Any) -> Any:
        made = real_raw_value(typecode_or_type, *args)
        return made if sys._getframe(1).f_code in wrapping else _traced_raw(made)

    def RawArray(typecode_or_type: Any, size_or_initializer: Any) -> Any:
        made = real_raw_array(typecode_or_type, size_or_initializer)
        return made if sys._getframe(1).f_code in wrapping else _traced_raw(made)

    real_copy, real_synchronized = module.copy, module.synchronized

    def copy(obj: Any) -> Any:
        base = _traced_base(obj)
        if base is None:
            return real_copy(obj)
        # (real_copy would make shared memory of the traced type, and register that type
        # with multiprocessing's reducer, which cannot pickle it for a spawn child)
        import ctypes

        made = module._new_value(base)
        ctypes.memmove(ctypes.addressof(made), ctypes.addressof(obj), ctypes.sizeof(obj))
        return _traced_raw(made)

    def synchronized(obj: Any, lock: Any = None, ctx: Any = None) -> Any:
        base = _traced_base(obj)
        if base is not None:
            # the wrapper records the accesses, under its lock, as for Value(lock=True)
            obj.__class__ = base
            if lock is None:
                import multiprocessing

                lock = (ctx or multiprocessing.get_context()).RLock()
                _traced_lock(lock, "synchronized().get_lock()")
        return real_synchronized(obj, lock, ctx)

    setattr(module, "Value", Value)  # noqa: B010 - a module attribute mypy cannot see
    setattr(module, "Array", Array)  # noqa: B010
    setattr(module, "RawValue", RawValue)  # noqa: B010
    setattr(module, "RawArray", RawArray)  # noqa: B010
    setattr(module, "copy", copy)  # noqa: B010
    setattr(module, "synchronized", synchronized)  # noqa: B010

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
            _elements("read", tag, index, value, len(self._obj), sys._getframe(1))
        return value

    def __setitem__(self: Any, index: Any, value: Any) -> None:
        tag = _state_tag(self)
        if tag is not None:
            _elements("write", tag, index, value, len(self._obj), sys._getframe(1))
        raw(self, self._obj.__setitem__, index, value)

    array.__getitem__, array.__setitem__ = __getitem__, __setitem__


# --- RawValue, RawArray, and Value / Array with lock=False --------------------------------

#: attribute of a raw object's ``BufferWrapper`` holding its tag (pickled along for spawn)
_RAW_TAG = "_ipcgrader_tag"
#: ctypes type -> its traced subclass (None: a type that is not traced, e.g. a Structure)
_raw_types: dict[type, type | None] = {}


def _traced_base(obj: Any) -> Any:
    """The original ctypes type of a traced raw object, or None for any other object."""
    mro = type(obj).__mro__
    return mro[1] if len(mro) > 1 and _raw_types.get(mro[1]) is type(obj) else None


def _raw_tag(obj: Any) -> str | None:
    try:
        tag: str = obj._wrapper.__dict__[_RAW_TAG]
    except (AttributeError, KeyError):
        return None  # a copy (copy.copy, pickle): not the shared object
    return tag


def _traced_raw(obj: Any) -> Any:
    """``obj`` (a ctypes object in shared memory), its accesses recorded from now on."""
    if not trace.enabled():
        return obj
    traced = _raw_type(type(obj))
    wrapper = getattr(obj, "_wrapper", None)
    if traced is None or wrapper is None:
        return obj
    wrapper.__dict__[_RAW_TAG] = trace.new_tag("R")
    obj.__class__ = traced
    return obj


def _raw_type(base: Any) -> type | None:
    """The traced subclass of ``base``: a simple type (``c_int`` ...) records ``.value``,
    an array of a simple type records indexing and slicing, per element."""
    if base in _raw_types:
        return _raw_types[base]
    import ctypes

    simple: Any = ctypes._SimpleCData
    namespace: dict[str, Any]
    if issubclass(base, simple):
        slot = simple.__dict__["value"]

        def get_value(self: Any) -> Any:
            value = slot.__get__(self)
            tag = _raw_tag(self)
            if tag is not None:
                _access("read", tag, "Value", value, sys._getframe(1))
            return value

        def set_value(self: Any, value: Any) -> None:
            tag = _raw_tag(self)
            if tag is not None:
                _access("write", tag, "Value", value, sys._getframe(1))
            slot.__set__(self, value)

        def __repr__(self: Any) -> str:  # a subclass of a simple type shows no value
            return f"{base.__name__}({slot.__get__(self)!r})"

        namespace = {"value": property(get_value, set_value), "__repr__": __repr__}
    elif issubclass(base, ctypes.Array) and issubclass(base._type_, simple):
        get_item, set_item = ctypes.Array.__getitem__, ctypes.Array.__setitem__

        def __getitem__(self: Any, index: Any) -> Any:
            value = get_item(self, index)
            tag = _raw_tag(self)
            if tag is not None:
                _elements("read", tag, index, value, self._length_, sys._getframe(1))
            return value

        def __setitem__(self: Any, index: Any, value: Any) -> None:
            tag = _raw_tag(self)
            if tag is not None:
                _elements("write", tag, index, value, self._length_, sys._getframe(1))
            set_item(self, index, value)

        namespace = {"__getitem__": __getitem__, "__setitem__": __setitem__}
    else:
        _raw_types[base] = None
        return None

    def __reduce__(self: Any) -> Any:
        # copy.copy and pickle make a plain copy, as of the original type
        rebuild, (_, state) = base.__reduce__(self)
        return rebuild, (base, state)

    # no __slots__ of its own: the instance layout stays the base's, so __class__ can change
    namespace.update(__slots__=(), __reduce__=__reduce__, __module__=base.__module__)
    traced: type = type(base)(base.__name__, (base,), namespace)
    traced.__qualname__ = base.__qualname__
    from multiprocessing.reduction import ForkingPickler

    ForkingPickler.register(traced, _reduce_raw)
    _raw_types[base] = traced
    return traced


def _reduce_raw(obj: Any) -> Any:
    """Send a traced raw object to a spawn child as multiprocessing sends the original
    (``reduce_ctype``), rebuilt traced there."""
    from multiprocessing.context import assert_spawning

    assert_spawning(obj)
    base = _traced_base(obj)
    if hasattr(base, "_length_"):
        return _rebuild_raw, (base._type_, obj._wrapper, base._length_)
    return _rebuild_raw, (base, obj._wrapper, None)


def _rebuild_raw(type_: Any, wrapper: Any, length: int | None) -> Any:
    from multiprocessing import sharedctypes

    obj = sharedctypes.rebuild_ctype(type_, wrapper, length)  # type: ignore[attr-defined]
    traced = _raw_type(type(obj))
    if traced is not None and _RAW_TAG in wrapper.__dict__:
        obj.__class__ = traced
    return obj


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
