"""Event recorder of ipcgrader's harness. Standard library only; imported by sitecustomize.

Each event is one JSON line appended with a single ``os.write`` to a file opened with
``O_APPEND``, so lines of concurrent processes never interleave and an event is on disk as
soon as it happened (a process killed a moment later loses nothing). Format and event kinds:
``docs/trace.md``. Every public function here is a no-op until :func:`install` ran, and none
may raise into the student's code.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from _thread import RLock, get_ident, get_native_id

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, TracebackType
    from typing import Any

try:
    from _json import encode_basestring_ascii as _quote
except ImportError:  # pragma: no cover - CPython always has _json
    from json.encoder import py_encode_basestring_ascii as _quote

#: Events one process may record; after that one ``lost`` event and silence.
MAX_EVENTS = 50_000
#: Longest ``out``/``err`` text kept per line.
MAX_TEXT = 500

_monotonic = time.monotonic
_fd = -1
_pid = 0
_ppid = 0
_counter = itertools.count()
_recorded = 0
_role = "main"
_exited = False
_main_ident = 0
_inside: set[int] = set()
_workdirs: tuple[str, ...] = ()
_located: dict[str, str | None] = {}
_exception: dict[str, Any] | None = None
#: lock tag -> times held by this process (for amplification and file-lock release)
held: dict[str, int] = {}
#: file-lock tag -> (fd, st_dev, st_ino): released implicitly when that fd is closed
file_locks: dict[str, tuple[int, int, int]] = {}
_lock_numbers = itertools.count(1)
#: each run once, with the event's kind, before this process's next event (race
#: amplification's meeting point; a parent that stops starting children)
before_next_event: list[Callable[[str], None]] = []
#: called with (None, target qualname) before this process starts a child, (pid, target)
#: after
start_hooks: list[Callable[[int | None, str | None], None]] = []
#: called when a worker ends
exit_hooks: list[Callable[[], None]] = []

# --- the wait board: what this process is blocked in, for the supervisor ------------------
#
# One small file per process, ``<board dir>/<pid>``, mapped into memory (a store, not a
# system call, per wait; and a mapping outlives a student's os.closerange). Fixed slots of
# BOARD_SLOT bytes: slot 0 is ``<starttime> <changes> <flags>`` (the process's start time
# from /proc/self/stat, so a reused pid is not mistaken for it; a counter bumped at every
# change; ``t`` once the process set an alarm or interval timer, ``s`` for a Manager's
# server, a service that acts only on other processes' requests), each other slot
# ``<native thread id> <w|h>``: a thread in an untimed blocking wait the harness traces
# (``w``), or one that only serves others (``h``: multiprocessing's own queue feeder
# threads, a Manager server's threads); or ``<native thread id> o <looks>``: an exercise
# driver's loop that only watches other processes (:func:`watched`); or ``<native thread
# id> d <item>``: a thread that holds a queue or pipe item for poll amplification
# (:func:`holding`). The supervisor (``supervise.stuck_snapshot``) stops a run as
# deadlocked only when every thread of every live process is sleeping in such a slot, none
# holds an item, and nothing changed across two samples; when only holds keep the run
# going, it tells their processes to let the items go (``go.<pid>`` beside the boards).
BOARD_SIZE = 4096
BOARD_SLOT = 64
_board_dir = ""
_board: Any = None
_board_start = b""
_board_changes = 0
_board_flags = "-"
#: looks counted by watched(), in every slot of this process (only their growth matters)
_board_looks = 0
#: native thread id -> its slot
_board_slots: dict[int, int] = {}
#: slot of a thread that holds an item (holding()) -> its text once the hold ends
_board_holds: dict[int, bytes] = {}
#: taken to give a thread its slot and around holds: a feeder thread may start holding
#: before the thread that started it publishes it as a helper (helper_thread()), and two
#: threads that take a slot at once must not get the same one
_board_lock = RLock()


def enabled() -> bool:
    """Whether events are being recorded in this process."""
    return _fd >= 0


def role() -> str:
    """``main``, ``spawned``, ``forked`` or ``forkserver``; ``worker`` once it runs a target."""
    return _role


def pid() -> int:
    """This process's pid, kept current across fork."""
    return _pid


def new_tag(prefix: str) -> str:
    """A tag unique in the run: prefix, creating pid, number (``L4242.1``)."""
    return f"{prefix}{_pid}.{next(_lock_numbers)}"


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "null"
    if isinstance(value, str):
        return str(_quote(value))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_quote(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    return str(_quote(repr(value)))


def student_location(frame: FrameType | None) -> tuple[str | None, int | None]:
    """The innermost frame in the student's files: its file (relative) and line."""
    while frame is not None:
        filename = frame.f_code.co_filename
        name = _located.get(filename, "?")
        if name == "?":
            name = _locate(filename)
        if name is not None:
            return name, frame.f_lineno
        frame = frame.f_back
    return None, None


def student_stack(frame: FrameType | None, depth: int = 16) -> list[str]:
    """The student's frames from ``frame`` outwards, as ``file:line``: where an access
    happens and the calls that led there (its calling context)."""
    found: list[str] = []
    while frame is not None and len(found) < depth:
        filename = frame.f_code.co_filename
        name = _located.get(filename, "?")
        if name == "?":
            name = _locate(filename)
        if name is not None:
            found.append(f"{name}:{frame.f_lineno}")
        frame = frame.f_back
    return found


def is_student_file(filename: str) -> bool:
    """Whether code from ``filename`` is the student's (in the run's working folder)."""
    name = _located.get(filename, "?")
    return (_locate(filename) if name == "?" else name) is not None


def _locate(filename: str) -> str | None:
    name: str | None = None
    if filename and not filename.startswith("<"):
        path = os.path.normpath(os.path.join(_workdirs[0], filename)) if _workdirs else filename
        for workdir in _workdirs:
            if path.startswith(workdir + os.sep):
                name = path[len(workdir) + 1 :]
                break
    _located[filename] = name
    return name


def emit(
    kind: str,
    obj: str | None = None,
    frame: FrameType | None = None,
    *,
    locate: bool = True,
    **fields: Any,
) -> None:
    """Record one event of this process. ``frame`` is where to start looking for the
    student's line (default: the caller; none at all with ``locate=False``); ``t`` in
    ``fields`` overrides the time."""
    if _fd < 0:
        return
    if before_next_event:
        hooks = before_next_event[:]
        before_next_event.clear()  # a hook may put itself back for the event after
        for hook in hooks:
            try:  # noqa: SIM105 - no contextlib: start-up cost
                hook(kind)
            except Exception:
                pass
    ident = get_ident()
    if ident in _inside:
        return  # an event caused by recording an event
    _inside.add(ident)
    try:
        if file_locks:
            _check_file_locks(ident)
        file, line = None, None
        if locate:
            file, line = student_location(frame if frame is not None else sys._getframe(1))
        _write(kind, obj, file, line, ident, fields)
    except Exception:
        pass
    finally:
        _inside.discard(ident)


def _write(
    kind: str, obj: str | None, file: str | None, line: int | None, ident: int, fields: Any
) -> None:
    global _recorded, _fd
    _recorded += 1
    if _recorded > MAX_EVENTS:
        if _recorded == MAX_EVENTS + 1:
            kind, obj, fields = "lost", None, {}
        else:
            return
    t = fields.pop("t", None) or _monotonic()
    parts = [f'{{"pid":{_pid},"ppid":{_ppid},"seq":{next(_counter)},"t":{t!r},"kind":"{kind}"']
    if obj is not None:
        parts.append(f',"obj":{_quote(obj)}')
    if file is not None:
        parts.append(f',"file":{_quote(file)},"line":{line or 0}')
    if ident != _main_ident:
        parts.append(f',"tid":{ident}')
    for key, value in fields.items():
        parts.append(f',"{key}":{_encode(value)}')
    parts.append("}\n")
    data = "".join(parts).encode("ascii")
    try:
        os.write(_fd, data)
    except OSError:
        _fd = -1  # the student closed our descriptor: stop rather than write elsewhere


def _check_file_locks(ident: int) -> None:
    """A file lock is released when its descriptor is closed: notice it before the next
    event, so that the release is ordered right with what follows."""
    for tag, (fd, dev, ino) in list(file_locks.items()):
        try:
            stat = os.fstat(fd)
            if (stat.st_dev, stat.st_ino) == (dev, ino):
                continue
        except OSError:
            pass
        del file_locks[tag]
        held.pop(tag, None)
        _write("release", tag, None, None, ident, {"implicit": True})


def acquired(tag: str, ok: bool, frame: FrameType | None, **fields: Any) -> None:
    """Record a finished acquire and count the lock as held."""
    if ok:
        held[tag] = held.get(tag, 0) + 1
    emit("acquired", tag, frame, ok=bool(ok), **fields)


def released(tag: str, frame: FrameType | None, **fields: Any) -> None:
    """Record a release (before it happens, so it sorts before the next holder's acquire)."""
    count = held.get(tag, 0)
    if count <= 1:
        held.pop(tag, None)
    else:
        held[tag] = count - 1
    emit("release", tag, frame, **fields)


def exception_info(exc: BaseException, tb: TracebackType | None) -> dict[str, Any]:
    """Type, message and the student's innermost line of an exception."""
    try:
        message = str(exc)[:MAX_TEXT]
    except Exception:  # a student's exception whose __str__ fails
        message = ""
    file = line = None
    while tb is not None:
        name = _located.get(tb.tb_frame.f_code.co_filename, "?")
        if name == "?":
            name = _locate(tb.tb_frame.f_code.co_filename)
        if name is not None:
            file, line = name, tb.tb_lineno
        tb = tb.tb_next
    return {"type": type(exc).__name__, "message": message, "file": file, "line": line}


def _open_board() -> bool:
    """Create this process's board (at its first wait: most processes never block)."""
    global _board, _board_start
    if not _board_dir or _fd < 0:
        return False
    try:
        import mmap

        with open("/proc/self/stat", "rb") as stat:
            data = stat.read()
        _board_start = data[data.rfind(b")") + 2 :].split()[19]
        path = os.path.join(_board_dir, str(os.getpid()))
        flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags, 0o644)  # the supervisor reads it, maybe as another uid
        try:
            os.ftruncate(fd, BOARD_SIZE)
            _board = mmap.mmap(fd, BOARD_SIZE)
        finally:
            os.close(fd)
    except Exception:
        _board = None
        return False
    _board_header()
    return True


def _board_header() -> None:
    global _board_changes
    _board_changes += 1
    text = b"%s %d %s" % (_board_start, _board_changes, _board_flags.encode())
    _board[0:BOARD_SLOT] = text.ljust(BOARD_SLOT - 1) + b"\n"


def _board_set(mark: bytes) -> int:
    """Write ``mark`` (``w``, ``h`` or blank) in the calling thread's slot; its number, or
    0 when there is no board (then the thread counts as not waiting: detection is off)."""
    if _board is None and not _open_board():
        return 0
    tid = get_native_id()
    slot = _board_slots.get(tid) or _new_slot(tid)
    if not slot:
        return 0  # too many threads: the others stay unaccounted (never "stuck")
    _board_write(slot, b"%d %s" % (tid, mark) if mark else b"")
    return slot


def _new_slot(tid: int) -> int:
    """The lowest free slot, now ``tid``'s; 0 when the board is full."""
    with _board_lock:
        used = set(_board_slots.values())
        slot = next(n for n in itertools.count(1) if n not in used)
        if slot * BOARD_SLOT >= BOARD_SIZE:
            return 0
        _board_slots[tid] = slot
        return slot


def _board_write(slot: int, text: bytes) -> None:
    try:
        _board[slot * BOARD_SLOT : (slot + 1) * BOARD_SLOT] = text.ljust(BOARD_SLOT - 1) + b"\n"
        _board_header()
    except Exception:
        pass


def blocking(untimed: bool) -> int:
    """The calling thread starts a traced blocking call; publish it when ``untimed`` (a
    wait with a timeout ends by itself: never part of a deadlock). Returns what to pass to
    :func:`unblocked`."""
    if not untimed or not _board_dir:
        return 0
    try:
        return _board_set(b"w")
    except Exception:
        return 0


def unblocked(slot: int) -> None:
    """The blocking call that :func:`blocking` published has returned (or raised)."""
    if slot and _board is not None:
        _board_write(slot, b"")


def watched(slot: int) -> int:
    """The calling thread looked at what other processes did and found nothing to act on;
    it will look again. For an exercise driver's polling loop whose every way out is
    something another process does (a queue filling, a child ending): publish it (``o``)
    at its first such look (``slot`` 0) and count each later one, without counting as a
    change of the board. The supervisor then treats it as waiting: once every other
    process is stuck and this thread has looked twice since, nothing can end its loop.
    The first look is a ``wait`` event (``what``: ``watch``) at the student's line that
    led there, if any. Returns the slot to pass next time, and to :func:`unwatched` as
    soon as the loop sees something to act on or ends."""
    global _board_looks
    if not _board_dir:
        return 0
    try:
        if not slot:
            emit("wait", None, sys._getframe(1), what="watch")
            # the count so far, not 0: it is the process's (a second watch goes on from
            # where the first one stopped), and a jump from 0 to it would read as looks
            # this thread never made (the supervisor wants two after its first sample)
            return _board_set(b"o %d" % _board_looks)
        _board_looks += 1
        text = b"%d o %d" % (get_native_id(), _board_looks)
        # no _board_header(): a look is no change of what the thread waits for
        _board[slot * BOARD_SLOT : (slot + 1) * BOARD_SLOT] = text.ljust(BOARD_SLOT - 1) + b"\n"
    except Exception:
        return slot
    return slot


def unwatched(slot: int) -> None:
    """The loop :func:`watched` published saw something to act on, or ends."""
    if slot:
        unblocked(slot)
        emit("wait_done", None, None, locate=False, what="watch", outcome="ok")


def helper_thread(native_id: int | None) -> None:
    """Publish one of multiprocessing's own threads (a queue's feeder): it only waits for
    this process's puts or for readers of the queue, so it never keeps a deadlock alive."""
    if not native_id or not _board_dir:
        return
    with _board_lock:
        if _board is None and not _open_board():
            return
        slot = _board_slots.get(native_id) or _new_slot(native_id)
        if slot in _board_holds:  # it holds an item already: a helper once that ends
            _board_holds[slot] = b"%d h" % native_id
        elif slot:
            _board_write(slot, b"%d h" % native_id)


def holding(item: int) -> int:
    """The calling thread holds ``item`` (this process's number for it) until a taker asks
    for it, at most its budget (poll amplification, ``_ipcgrader_turns.hold``): publish it
    (``d <item>``). It polls meanwhile, so the supervisor reads it as waiting whatever it is
    doing, but never as deadlocked: its hold ends by itself. Returns the slot to pass to
    :func:`unholding`; 0 when there is no board (the hold then lasts as before)."""
    if not _board_dir:
        return 0
    try:
        with _board_lock:
            if _board is None and not _open_board():
                return 0
            tid = get_native_id()
            slot = _board_slots.get(tid) or _new_slot(tid)
            if not slot:
                return 0
            text = bytes(_board[slot * BOARD_SLOT : (slot + 1) * BOARD_SLOT])
            _board_holds[slot] = text.strip(b" \n\x00")  # (a slot never written: zeros)
            _board_write(slot, b"%d d %d" % (tid, item))
            return slot
    except Exception:
        return 0


def unholding(slot: int) -> None:
    """The hold :func:`holding` published has ended: the thread's mark is what it was (or
    became meanwhile: a feeder published as a helper)."""
    if not slot or _board is None:
        return
    with _board_lock:
        _board_write(slot, _board_holds.pop(slot, b""))


def let_go(item: int) -> bool:
    """Whether the supervisor told this process to let its held ``item`` go now: it saw
    every thread of the run but the holding ones stuck in untimed traced waits, so nobody
    can ask for the item before its hold would run out by itself (``supervise.let_go``)."""
    try:
        with open(os.path.join(_board_dir, f"go.{_pid}"), "rb") as answer:
            said = answer.read().split()
    except OSError:
        return False
    # the start time tells this process from an earlier one with the same pid
    return len(said) > 1 and said[0] == _board_start and b"%d" % item in said[1:]


def thread_done(native_id: int) -> None:
    """A thread published with :func:`helper_thread` ends: free its slot (a Manager's
    server starts a thread per connection, and the board has room for 63)."""
    slot = _board_slots.pop(native_id, 0)
    if slot and _board is not None:
        _board_write(slot, b"")


def service() -> None:
    """This process only serves other processes' requests (a Manager's server): with all
    its threads published as helpers, it counts as stuck without a waiting thread of its
    own, since nothing in it can wake anyone unless a client asks."""
    global _board_flags
    if _board_flags == "-":
        _board_flags = "s"
    if _board is not None or _open_board():
        _board_header()


def timer_set() -> None:
    """The process set an alarm or an interval timer: a signal may wake it at any time, so
    it never counts as stuck."""
    global _board_flags
    _board_flags = "t"
    if _board is not None or _open_board():
        _board_header()


def begin_run(name: str, target: str | None) -> None:
    """A multiprocessing child starts running its target."""
    global _role
    _role = "worker"
    emit("run", locate=False, name=name, target=target)


def process_exit(
    code: int | None, exc: dict[str, Any] | None = None, left: dict[str, Any] | None = None
) -> None:
    """Record the end of this process (once). ``left``: how and where its code left early
    (``sys.exit`` or ``os._exit`` called in a child's target)."""
    global _exited
    if _exited or _fd < 0:
        return
    _exited = True
    if _role == "worker":
        for hook in exit_hooks:
            hook()
    for stream in (sys.stdout, sys.stderr):
        finish = getattr(stream, "_ipcgrader_finish", None)
        if finish is not None:
            finish()
    if left is not None:
        emit("exit", locate=False, code=code, exc=exc if exc is not None else _exception, left=left)
    else:
        emit("exit", locate=False, code=code, exc=exc if exc is not None else _exception)


def _at_exit() -> None:
    process_exit(None)


def _excepthook(real: Any) -> Any:
    def excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> Any:
        global _exception
        _exception = exception_info(exc, tb)
        return real(kind, exc, tb)

    return excepthook


def _after_fork_in_child() -> None:
    global _pid, _ppid, _counter, _recorded, _exited, _role, _main_ident, _exception
    global _board, _board_flags, _board_lock
    _pid, _ppid = os.getpid(), os.getppid()
    # the parent's board is the parent's: this process makes its own at its first wait;
    # a fork child has no pending alarm nor interval timer (POSIX clears them)
    _board = None
    _board_flags = "-"
    _board_slots.clear()
    _board_holds.clear()
    _board_lock = RLock()  # another thread may have held it at the fork
    _counter = itertools.count()
    _recorded = 0
    _exited = False
    _exception = None
    _role = "forked"
    _main_ident = get_ident()
    before_next_event.clear()
    _inside.clear()
    # a lock the parent held is not held by the child (nor is its file lock, which the
    # child's copy of the descriptor shares but which the child never took)
    held.clear()
    file_locks.clear()
    emit("proc", locate=False, role="forked")


def _role_of_process() -> str:
    command = " ".join(getattr(sys, "orig_argv", sys.argv))
    if "multiprocessing.resource_tracker" in command:
        return "helper"
    if "multiprocessing.forkserver" in command:
        return "forkserver"
    if "spawn_main" in command or "--multiprocessing-fork" in command:
        return "spawned"
    return "main"


def install(path: str, workdir: str, board_dir: str = "") -> bool:
    """Start recording into ``path``; ``workdir`` is the run's folder (the student's files);
    ``board_dir`` is where the wait boards go (none: no deadlock detection). Returns False
    in processes that run no student code (the resource tracker)."""
    global _fd, _pid, _ppid, _role, _main_ident, _workdirs, _board_dir
    _role = _role_of_process()
    if _role == "helper":
        return False
    real = os.path.realpath(workdir)
    _workdirs = (workdir,) if real == workdir else (workdir, real)
    _pid, _ppid = os.getpid(), os.getppid()
    _main_ident = get_ident()
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    _fd = os.open(path, flags, 0o600)
    _board_dir = board_dir
    emit("proc", locate=False, role=_role)
    os.register_at_fork(after_in_child=_after_fork_in_child)
    import atexit

    atexit.register(_at_exit)
    sys.excepthook = _excepthook(sys.excepthook)
    return True
