"""The exercise's shared files: atomic writes, recorded accesses, race amplification.

Standard library only. Accesses are seen through the ``open`` and ``os.rename`` audit events
(``open()``, ``io.open``, ``os.open``, ``pathlib`` all raise them), so the student can use any
of them. Amplification (``docs/trace.md``) makes a worker that read a shared file without holding
a process lock wait, bounded, until a second worker has read it too: an unprotected
read-modify-write then really loses an update in that run.
"""

from __future__ import annotations

import os
import sys

import _ipcgrader_trace as _rec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import FrameType
    from typing import IO, Any

#: absolute path -> name in the exercise (``ticket.json``) and index
_shared: dict[str, tuple[str, int]] = {}
_basenames: set[str] = set()
#: whether events are recorded (otherwise only atomic writes are on)
_tracing = False
_replacing = False
_amplify_dir: str | None = None
_amplify_wait = 0.0
#: per shared file or object of shared state (its key: the file's index, or ``v`` and a
#: checksum of the Value's, Array's or dict's tag): meetings so far; reads not yet followed
#: by a write, and those of them made under a protecting lock (they meet when it is
#: released before the write)
_meetings: dict[str, int] = {}
_stale: set[str] = set()
_stale_locked: dict[str, str] = {}
_settle_pending = False
_real_sleep: Any = None


def shared_name(path: Any) -> tuple[str, int] | None:
    """The exercise's name and index of ``path`` if it is a shared file."""
    if isinstance(path, int) or path is None:
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    if text.rpartition(os.sep)[2] not in _basenames:
        return None
    return _shared.get(os.path.abspath(text))


class _AtomicFile:
    """A file opened for writing that becomes visible under its real name when closed."""

    def __init__(self, handle: IO[Any], temporary: str, final: str) -> None:
        self._handle = handle
        self._temporary = temporary
        self._final = final
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __iter__(self) -> Any:
        return iter(self._handle)

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        global _replacing
        if self._done:
            return
        self._done = True
        self._handle.close()
        _replacing = True
        try:
            os.replace(self._temporary, self._final)
        finally:
            _replacing = False

    def __del__(self) -> None:
        # not contextlib.suppress: the harness avoids imports that slow every start-up
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass


def _holds_file_lock_on(path: str) -> bool:
    """A process that flocks the shared file itself relies on writing it in place."""
    if not _tracing or not _rec.file_locks:
        return False
    try:
        stat = os.stat(path)
    except OSError:
        return False
    locks = _rec.file_locks.values()
    return any(dev == stat.st_dev and ino == stat.st_ino for _, dev, ino in locks)


def _atomic_writes() -> None:
    import builtins
    import io

    real_open = builtins.open

    class Open:
        # An object with __call__, not a function: a function kept as a class attribute is
        # bound as a method, and Python 3.10's pathlib keeps `open = io.open` in a class.
        __doc__ = real_open.__doc__

        def __call__(self, file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if "w" in mode and isinstance(file, (str, bytes, os.PathLike)):
                found = shared_name(file)
                if found is not None:
                    final = os.path.abspath(os.fsdecode(os.fspath(file)))
                    if not _holds_file_lock_on(final):
                        _accessed(found, "write", mode, sys._getframe(1))
                        temporary = f"{final}.ipcgrader-{os.getpid()}.tmp"
                        handle = real_open(temporary, mode, *args, **kwargs)
                        return _AtomicFile(handle, temporary, final)
            return real_open(file, mode, *args, **kwargs)

    builtins.open = io.open = Open()


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" or event == "os.rename":
        # not contextlib.suppress: the harness avoids imports; a hook that raised would
        # break the student's open()
        try:  # noqa: SIM105
            _seen(event, args, sys._getframe(1))
        except Exception:
            pass


def _seen(event: str, args: tuple[Any, ...], frame: FrameType) -> None:
    if event == "open":
        found = shared_name(args[0])
        if found is None:
            return
        mode, flags = args[1], args[2]
        if isinstance(mode, str):
            reads = "r" in mode or "+" in mode
            writes = any(c in mode for c in "wax+")
        else:
            access = flags & os.O_ACCMODE
            reads = access in (os.O_RDONLY, os.O_RDWR)
            writes = access != os.O_RDONLY
        shown = mode if isinstance(mode, str) else None
        if reads:
            _accessed(found, "read", shown, frame)
        if writes:
            _accessed(found, "write", shown, frame)
    elif not _replacing:
        found = shared_name(args[1])
        if found is not None:
            _accessed(found, "write", "rename", frame)


def _accessed(found: tuple[str, int], op: str, mode: str | None, frame: FrameType) -> None:
    if not _tracing or not _rec.enabled():
        return
    name, index = found
    # the calling context tells a helper's read for a look from the same read for an update
    _rec.emit(op, name, frame, mode=mode, stack=_rec.student_stack(frame))
    amplify(str(index), name, op, frame, later=True)


def amplify(key: str, name: str, op: str, frame: FrameType | None, later: bool = False) -> None:
    """After a recorded read or write of shared state ``name`` (``key``: a name for the
    meeting files): let an unprotected read meet the other workers' (below). ``later``:
    the read is not done yet (a file is read after its ``open``), meet at the next event."""
    if op == "write":
        _stale.discard(key)
        _stale_locked.pop(key, None)
    elif _amplify_dir is not None and _rec.role() != "main":
        # not contextlib.suppress (start-up cost); amplification is best effort
        try:  # noqa: SIM105
            _before_read(key, name, frame, later)
        except Exception:
            pass


# --- amplification --------------------------------------------------------------------------


def _protected() -> bool:
    """Whether a lock that other processes can hold is held (a lock this process created
    itself cannot keep its siblings out)."""
    me = str(_rec.pid())
    for tag in _rec.held:
        if tag[0] in "FM":
            return True
        if tag[0] == "L" and tag[1:].partition(".")[0] != me:
            return True
    return False


def _everyone_there(prefix: str) -> bool:
    """Whether every worker that was started and has not ended has reached this meeting,
    and no process is still starting workers."""
    assert _amplify_dir is not None
    alive: set[str] = set()
    arrived: set[str] = set()
    for entry in os.listdir(_amplify_dir):
        if entry.startswith("starting-"):
            return False
        if entry.startswith("alive-"):
            alive.add(entry[6:])
        elif entry.startswith(prefix):
            arrived.add(entry[len(prefix) :])
    return alive <= arrived


def _settled(kind: str) -> None:
    """This process's next event after starting workers: unless it starts another one, it
    is done starting them for now."""
    global _settle_pending
    if kind == "start":
        _rec.before_next_event.append(_settled)
        return
    _settle_pending = False
    try:  # noqa: SIM105 - no contextlib: start-up cost
        os.unlink(os.path.join(_amplify_dir or "", f"starting-{_rec.pid()}"))
    except OSError:
        pass


def _started(pid: int | None, target: str | None) -> None:
    """Called before a worker is started (``pid`` None) and after. The meetings wait for
    every started worker until it ends, and for its parent to be done starting workers. A
    Manager's server reads no shared file: it is not waited for."""
    global _settle_pending
    if _amplify_dir is None or (target or "").endswith("_run_server"):
        return
    if pid is None:
        _mark(f"starting-{_rec.pid()}")  # before the child can reach a meeting
    else:
        _mark(f"alive-{pid}")
    if not _settle_pending:
        _settle_pending = True
        _rec.before_next_event.append(_settled)


def _ended() -> None:
    if _amplify_dir is None:
        return
    try:  # noqa: SIM105 - no contextlib: start-up cost
        os.unlink(os.path.join(_amplify_dir, f"alive-{_rec.pid()}"))
    except OSError:
        pass


def _mark(entry: str) -> None:
    assert _amplify_dir is not None
    os.close(os.open(os.path.join(_amplify_dir, entry), os.O_CREAT | os.O_WRONLY, 0o600))


def _before_read(key: str, name: str, frame: FrameType | None, later: bool) -> None:
    """After this worker's n-th unprotected read of the file (at its next event when the
    read is not done yet), mark its arrival and wait until every running worker has made its
    n-th such read too. They have then all read the old value before any of them can write
    it back: an unprotected read-modify-write loses updates in every run, the same way.

    A file is not marked at its ``open``: a worker marked as arrived but preempted before its
    read could read what another wrote meanwhile.

    A read under a protecting lock meets later, if at all: when that lock is released
    before the value is written back (:func:`_after_release`)."""
    _stale.add(key)
    if _protected():
        _stale_locked[key] = name
        return
    _stale_locked.pop(key, None)
    if later:
        _rec.before_next_event.append(lambda kind: _meet(key, name, frame))
    else:
        _meet(key, name, frame)


def _meet(key: str, name: str, frame: FrameType | None) -> None:
    """Mark this worker's arrival at its next meeting on the file and wait, at most
    ``_amplify_wait``, until every running worker has arrived there too. Unprotected reads
    and releases of a lock over an unwritten read count as one series per file: both leave
    a worker holding a value of the file that others can change meanwhile."""
    generation = _meetings[key] = _meetings.get(key, 0) + 1
    prefix = f"{key}-{generation}-"
    _mark(f"{prefix}{_rec.pid()}")
    began = _rec._monotonic()
    deadline = began + _amplify_wait
    met = _everyone_there(prefix)
    while not met and _rec._monotonic() < deadline:
        _real_sleep(0.001)
        met = _everyone_there(prefix)
    waited = round(_rec._monotonic() - began, 4)
    _rec.emit("meet", name, frame, generation=generation, met=met, waited=waited)


def _after_release() -> None:
    """Released a lock while holding a value read from a shared file and not written back.

    When the value was read under a lock that no longer protects it (the lock released
    between the read and the write), meet the other workers as after an unprotected read:
    they all read the same value before any of them writes it back, in every run, the same
    way. Otherwise (the value came from an unprotected read, which met already) yield for a
    few milliseconds, letting another reader in."""
    if not _stale or not _tracing or _rec.role() == "main":
        return
    if _stale_locked and not _protected():
        # amplification is best effort
        try:
            for key, name in sorted(_stale_locked.items()):
                del _stale_locked[key]
                _meet(key, name, None)
        except Exception:
            pass
        return
    _real_sleep(min(_amplify_wait, 0.005))


def _forget() -> None:
    global _settle_pending
    _meetings.clear()
    _stale.clear()
    _stale_locked.clear()
    _settle_pending = False


def install(
    workdir: str,
    names: list[str],
    atomic: bool,
    tracing: bool,
    amplify_dir: str | None = None,
    amplify_wait: float = 0.0,
) -> None:
    """Watch the shared files ``names`` (relative to ``workdir``, the run's folder):
    atomic writes if ``atomic``, recorded accesses if ``tracing``."""
    global _tracing, _amplify_dir, _amplify_wait, _real_sleep
    import time

    _real_sleep = getattr(time, "_ipcgrader_real_sleep", time.sleep)
    for index, name in enumerate(names):
        path = os.path.normpath(os.path.join(workdir, name))
        _shared[path] = (name, index)
        _basenames.add(os.path.basename(path))
    _tracing = tracing
    os.register_at_fork(after_in_child=_forget)
    if atomic:
        _atomic_writes()
    if tracing:
        if names:
            sys.addaudithook(_audit)
        if amplify_dir:
            _amplify_dir, _amplify_wait = amplify_dir, amplify_wait
            import _ipcgrader_mp

            _ipcgrader_mp.after_release.append(_after_release)
            _rec.start_hooks.append(_started)
            _rec.exit_hooks.append(_ended)
