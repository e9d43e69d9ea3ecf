"""Queue and pipe polls made deterministic: an item becomes visible when a taker asks for it.

Standard library only; installed by :mod:`_ipcgrader_ipc` when the run amplifies races
(``IPCGRADER_AMPLIFY_DIR``). Whether ``while not q.empty(): q.get()`` or a loop on
``get_nowait()`` / ``conn.poll()`` misses an item depends on whether the producer was
faster than the look. Here it never is: an item put into a traced queue, or a message sent
on a traced pipe, is held at the producer (the queue's feeder thread, ``send``) until a
process that takes from that queue or pipe end has asked for it since the last item:

- a waiting take (``get()``, ``recv()``) asks when it starts, and gets the item as before;
- a look (``empty()``, ``qsize()``, ``get_nowait()``, ``poll()``) first waits (briefly)
  until every producer known for that inbox has had its turn (held at its next item,
  waiting, or ended), answers from what has been let through (``qsize()``: how many), then
  asks, and waits until a producer held at that moment has let the item through;
- a timed take of the student's (``get(timeout=t)``, ``poll(t)``) is a look when nothing
  has been let through: it answers at once that nothing came (:func:`at_once`), unless
  the process slept since its last one; otherwise it asks and waits as before.

So every look sees exactly what earlier asks let through: the first look of a polling loop
finds nothing in every run, and a loop that stops there stops there every time, as
``no_missed_poll`` says. A taker that only waits is never a *poller*, and once every known
taker of a queue is one that waits, nothing is held: a correct program is not slowed.

The processes share their counts as small files in the amplification folder:
``t.<inbox>.<pid>`` (asks so far and whether that process ever looked), ``c.<inbox>.<pid>``
(items that process sent through and took: what a ``qsize()`` counts), ``s.<inbox>.<pid>``
(a producer for that inbox: how many items it put), ``g.<inbox>.<pid>`` (the item that
producer is deciding on, R, held for, H, or letting through, P), ``b.<pid>`` (the process
waits in a join, a get or recv, or a hold of its own, so it cannot ask now). An inbox is a
queue tag (``Q3.1``) or a pipe end (``P3.1:0``). Holding is best effort: a producer holds
items of one inbox for ``wait`` seconds in all, then lets them through as usual.

A thread that holds an item is on its process's wait board (``d``, ``_ipcgrader_trace``).
When the supervisor sees every other thread of the run stuck in an untimed traced wait
(the deadlock detector's condition: nobody runs, sleeps or waits with a timeout), nobody
can ask for the item before the hold runs out by itself, so it tells the process to let
the item go at once, with the budget counted as spent (:func:`hold`): the same run, without
waiting ``wait`` seconds for it; a deadlock behind the hold is then found at once.
"""

from __future__ import annotations

import os
from _thread import allocate_lock

import _ipcgrader_trace as trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_dir = ""
_budget = 0.0
_sleep: Callable[[float], None] | None = None
_clock: Callable[[], float] | None = None
#: this process's role is ``main`` and it has started no child: nobody else can take yet
_alone = True
_main = True
#: inbox -> (fd of this process's ask file, asks so far, looked)
_asks: dict[str, list[int]] = {}
#: (inbox, taker pid) -> asks of that taker this process has used to let items through
_used: dict[tuple[str, int], int] = {}
#: inbox -> seconds this process has held its items (the budget)
_held: dict[str, float] = {}
#: inbox -> seconds this process's looks have waited there (the same budget, apart)
_looked: dict[str, float] = {}
_waits = 0
#: items this process has held (names the item a look waits for)
_items = 0
#: sleeps this process has made (time.sleep), and their number at its last timed take
#: at each inbox: a take right after a sleep is a plain wait (the sleep let others put)
_sleeps = 0
_slept_at: dict[str, int] = {}
#: inboxes this process puts into itself: its own item may still be on its way there
_own: set[str] = set()
#: inbox -> items this process put (or sent) there
_put: dict[str, int] = {}
#: inbox -> [fd of this process's count file, items it sent there, items it took there]
_counts: dict[str, list[int]] = {}

_counting = allocate_lock()

_STEP = 0.0005
_CREATE = os.O_CREAT | os.O_WRONLY


def active() -> bool:
    """Whether holding is on in this process."""
    return bool(_dir)


def _write(name: str, text: bytes, fd: int = -1) -> int:
    """Write ``text`` over the file ``name`` (kept open when ``fd`` is given)."""
    if fd >= 0:
        os.pwrite(fd, text.ljust(24), 0)
        return fd
    fd = os.open(os.path.join(_dir, name), _CREATE, 0o600)
    try:
        os.pwrite(fd, text.ljust(24), 0)
    finally:
        os.close(fd)
    return -1


def asked(inbox: str, look: bool) -> None:
    """This process asked ``inbox`` for an item: a waiting take (before it waits) or a
    look (after it answered). After a look, wait until a producer held at this inbox has
    let the item through, so that the next look sees it."""
    if not _dir:
        return
    try:
        entry = _asks.get(inbox)
        if entry is None:
            entry = _asks[inbox] = [-1, 0, 0]
        entry[1] += 1
        entry[2] = entry[2] or int(look)
        if entry[0] < 0:
            entry[0] = os.open(os.path.join(_dir, f"t.{inbox}.{os.getpid()}"), _CREATE, 0o600)
        # What each producer holds is read BEFORE the ask is written: read after, a producer
        # may already have let that item through on this ask and hold its next one, which
        # only a further ask can free (the look then waited its whole budget, in about one
        # run of ten, and the outcome depended on it).
        held = _held_now(inbox) if look else {}
        _write("", b"%d %d" % (entry[1], entry[2]), entry[0])
        if held:
            _until_let_through(inbox, held)
    except Exception:
        pass  # best effort: never break the student's program


def _held_now(inbox: str) -> dict[str, bytes]:
    """Each live producer marked at ``inbox``: the item it holds (or decides on) now."""
    prefix = f"g.{inbox}."
    me = f"{prefix}{os.getpid()}"
    held = {}
    for name in os.listdir(_dir):
        if name.startswith(prefix) and name != me and _alive(int(name[len(prefix) :])):
            item = _item(name)
            for _ in range(20):  # a marker just made is empty until its first write
                if item or not os.path.exists(os.path.join(_dir, name)):
                    break
                assert _sleep is not None
                _sleep(_STEP)
                item = _item(name)
            if item:  # (an empty one, gone since: nothing to wait for; waiting for
                held[name] = item  # b"" would never end, its absence reads b"" too)
    return held


def _until_let_through(inbox: str, held: dict[str, bytes]) -> None:
    """Wait until each producer of ``held`` has let that item through (a producer that
    holds its next item right after has let this one through)."""
    assert _sleep is not None and _clock is not None
    began = _clock()
    try:
        while held and _looked.get(inbox, 0.0) + _clock() - began < _budget:
            _sleep(_STEP)
            held = {n: item for n, item in held.items() if _item(n) == item}
    finally:
        _looked[inbox] = _looked.get(inbox, 0.0) + _clock() - began


def _item(name: str) -> bytes:
    """The item a producer's marker names (empty once it is gone)."""
    return _read(name).split(b" ")[0]


def before_look(inbox: str, room: Callable[[], bool] | None = None) -> None:
    """Before a look at ``inbox``: wait until every producer known to put there has had
    its turn: it is held at its next item, waits in something, or has ended. The look then
    sees what the earlier asks let through, whoever was faster. The looks of a process at
    one inbox wait ``_budget`` seconds in all (a producer that computes for long between
    puts would otherwise slow every look). ``room``: whether a bounded queue has room now
    (a producer in a put there is then on its way, not waiting)."""
    if not _dir:
        return
    assert _sleep is not None and _clock is not None
    try:
        prefix = f"s.{inbox}."
        me = os.getpid()
        producers = [int(n[len(prefix) :]) for n in os.listdir(_dir) if n.startswith(prefix)]
        producers = [pid for pid in producers if pid != me]
        began = _clock()
        try:
            while producers and _looked.get(inbox, 0.0) + _clock() - began < _budget:
                producers = [pid for pid in producers if not _settled(inbox, pid, room)]
                if producers:
                    _sleep(_STEP)
        finally:
            _looked[inbox] = _looked.get(inbox, 0.0) + _clock() - began
    except Exception:
        pass  # best effort


def _settled(inbox: str, pid: int, room: Callable[[], bool] | None = None) -> bool:
    """Whether producer ``pid`` has had its turn at ``inbox``: it holds its next item there,
    or has ended, or waits with no item of its on the way there (one it put that its
    feeder thread has neither held nor sent yet: its waiting flag may come from another
    thread). A producer in a put at ``inbox`` waits only while the queue is full: once a
    get made room (``room()``), its put is returning, however long the waiting flag it set
    before stays up."""
    if _read(f"g.{inbox}.{pid}").rstrip().endswith(b" H") or not _alive(pid):
        return True
    try:
        put, _, putting = _read(f"s.{inbox}.{pid}").strip().partition(b" ")
        sent = int((_read(f"c.{inbox}.{pid}").split() or [b"0"])[0])
        if int(put or 0) > sent:
            return False
    except ValueError:
        return False
    if putting:
        return room is not None and not room()
    return _read(f"b.{pid}").startswith(b"1")


def slept() -> None:
    """This process slept (``time.sleep``): what the others put meanwhile was put before
    its next take."""
    global _sleeps
    _sleeps += 1


def counted(inbox: str, sent: int = 0, took: int = 0) -> None:
    """This process sent an item into ``inbox`` (it went through to the queue's pipe) or
    took one from it: the counts :func:`released` adds up."""
    if not _dir:
        return
    try:
        entry = _counts.get(inbox)
        if entry is None:
            name = os.path.join(_dir, f"c.{inbox}.{os.getpid()}")
            entry = _counts[inbox] = [os.open(name, _CREATE, 0o600), 0, 0]
        entry[1] += sent
        entry[2] += took
        _write("", b"%d %d" % (entry[1], entry[2]), entry[0])
    except Exception:
        pass  # best effort


def released(inbox: str) -> int:
    """How many items are in ``inbox`` now: sent through by every process, less those
    taken (a held item is not there yet). Kept when a process ends."""
    prefix = f"c.{inbox}."
    total = 0
    for name in os.listdir(_dir):
        if name.startswith(prefix):
            try:
                sent, took = _read(name).split()[:2]
                total += int(sent) - int(took)
            except ValueError:
                continue
    return max(total, 0)


def produced(inbox: str, more: int = 1, putting: bool = False) -> None:
    """This process put (or sends) ``more`` items into ``inbox`` (``putting``: it is in a
    put there now): known from now on as a producer there, with the number of items it
    put (a look waits for those on their way through its feeder thread)."""
    _own.add(inbox)
    if not _dir:
        return
    _put[inbox] = _put.get(inbox, 0) + more
    try:  # noqa: SIM105
        _write(
            f"s.{inbox}.{os.getpid()}", b"%d p" % _put[inbox] if putting else b"%d" % _put[inbox]
        )
    except OSError:
        pass


def at_once(inbox: str, ready: Callable[[], bool], room: Callable[[], bool] | None = None) -> bool:
    """Before a timed take of the student's (``get(timeout=t)``, ``poll(t)``) at
    ``inbox``: True when it answers at once that nothing came (``queue.Empty``, False),
    having asked like a look; False when it takes as usual (having asked, as a waiting
    take does).

    It answers at once when nothing has been released there (``ready()``, the real state
    of the queue's pipe, once every producer has had its turn): the order in which the
    producer was slower than ``t``, which a program can have, is then the order of every
    run, and the next take gets the item that this ask lets through. Not when the process
    slept since its last timed take there (or since it started): what the producers put
    during a sleep had been put before the take began, and a take that waits would get
    it; nor when the process itself puts there (its own item may still be on its way)."""
    if not _dir:
        return False
    woke = _slept_at.get(inbox, 0) != _sleeps
    _slept_at[inbox] = _sleeps
    if woke or inbox in _own:
        asked(inbox, look=False)
        return False
    before_look(inbox, room)
    try:
        there = ready()
    except Exception:
        there = True  # cannot tell: take as usual
    asked(inbox, look=not there)
    return not there


def waiting(now: bool) -> None:
    """This process waits (a join, a blocking get or recv, a hold) and cannot ask for
    anything else meanwhile."""
    global _waits
    if not _dir:
        return
    with _counting:  # a feeder thread holds while the main thread joins
        _waits += 1 if now else -1
        try:  # noqa: SIM105 - no contextlib in the harness: start-up cost
            _write(f"b.{os.getpid()}", b"1" if _waits > 0 else b"0")
        except OSError:
            pass


def started_child() -> None:
    global _alone
    _alone = False


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _read(name: str) -> bytes:
    try:
        with open(os.path.join(_dir, name), "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def _may_pass(inbox: str) -> bool:
    """Whether an item for ``inbox`` may become visible now (and use up one ask)."""
    me = os.getpid()
    prefix = f"t.{inbox}."
    takers: dict[int, tuple[int, bool]] = {}
    names = os.listdir(_dir)
    for name in names:
        if name.startswith(prefix):
            try:
                pid = int(name[len(prefix) :])
                count, looked = _read(name).split()[:2]
                takers[pid] = (int(count), looked == b"1")
            except ValueError:
                continue
    for pid, (asks, _looked) in sorted(takers.items()):
        if asks > _used.get((inbox, pid), 0):
            _used[(inbox, pid)] = _used.get((inbox, pid), 0) + 1
            return True
    live = {pid: looked for pid, (_asks_, looked) in takers.items() if pid != me and _alive(pid)}
    if live:
        # only a taker that looks can miss: waiting takers are served as they come
        pollers = [pid for pid, looked in live.items() if looked]
        return not pollers or all(_read(f"b.{pid}").startswith(b"1") for pid in pollers)
    if me in takers or (_main and _alone):
        return True  # this process takes its own items, or nobody else exists yet
    # nobody has asked yet: hold, unless every other process is waiting (a join)
    others = [n for n in names if n.startswith("b.") and n != f"b.{me}"]
    return bool(others) and all(_read(n).startswith(b"1") for n in others if _alive(int(n[2:])))


def hold(inbox: str) -> bool:
    """Before an item for ``inbox`` becomes visible: wait until a taker asks for it (at
    most this process's remaining budget for the inbox). Call :func:`let_through` with the
    answer once the item is sent: a look waits for that."""
    if not _dir:
        return False
    assert _sleep is not None and _clock is not None
    spent = _held.get(inbox, 0.0)
    if spent >= _budget:
        return False
    began = _clock()
    global _items
    _items += 1
    item = _items
    marker = f"g.{inbox}.{os.getpid()}"
    try:
        if inbox not in _held and inbox not in _put:  # known from now on as a producer
            _write(f"s.{inbox}.{os.getpid()}", b"0")
        # marked first: a look that asks from now on waits until this item is through
        _write(marker, b"%d R" % item)
    except OSError:
        return False
    blocked = False
    slot = 0
    let_go = False
    try:
        while not _may_pass(inbox):
            if not blocked:
                blocked = True
                _write(marker, b"%d H" % item)  # held: this producer has had its turn
                waiting(True)
                slot = trace.holding(item)  # on the board: the supervisor may let it go
            elif slot and trace.let_go(item):
                let_go = True
                break
            if spent + _clock() - began >= _budget:
                break
            _sleep(_STEP)
        if blocked:
            _write(marker, b"%d P" % item)
    except Exception:
        pass  # best effort
    finally:
        # Let go by the supervisor: every other thread of the run was stuck in an untimed
        # traced wait, none of them a taker that asked here, so nobody could ask for the
        # item before the hold ran out by itself; it would have used up the budget, and
        # the producer's later items here would have gone through unheld. So the budget is
        # spent: the run goes on as it would have, without waiting the rest of it (and a
        # deadlock behind the hold is found at once, not amplify_wait_s later).
        _held[inbox] = _budget if let_go else spent + _clock() - began
        trace.unholding(slot)
        if blocked:
            waiting(False)
    return True


def let_through(inbox: str, marked: bool) -> None:
    """The item :func:`hold` held is sent (or failed): a look need not wait for it."""
    if marked:
        try:  # noqa: SIM105
            os.unlink(os.path.join(_dir, f"g.{inbox}.{os.getpid()}"))
        except OSError:
            pass


def _forget() -> None:
    global _waits, _alone, _main, _counting, _sleeps
    _counting = allocate_lock()  # another thread may have held it at the fork
    for fd, _count, _flag in _asks.values():
        try:  # noqa: SIM105
            os.close(fd)  # the parent's files: this process asks under its own pid
        except OSError:
            pass
    for fd, _sent, _took in _counts.values():
        try:  # noqa: SIM105
            os.close(fd)  # the parent's counts: this process counts under its own pid
        except OSError:
            pass
    _asks.clear()
    _counts.clear()
    _used.clear()
    _held.clear()
    _looked.clear()
    _slept_at.clear()
    _own.clear()
    _put.clear()
    _waits = _sleeps = 0
    _alone, _main = True, False


def ended() -> None:
    """This process ends: it asks for nothing any more."""
    if not _dir:
        return
    pid = os.getpid()
    for inbox in list(_asks):
        try:  # noqa: SIM105
            os.unlink(os.path.join(_dir, f"t.{inbox}.{pid}"))
        except OSError:
            pass


def install(directory: str, budget: float, main: bool) -> None:
    """Hold queue and pipe items in this process; ``directory`` is shared by the run."""
    global _dir, _budget, _sleep, _clock, _main
    import time

    _dir, _budget, _main = directory, budget, main
    _sleep = getattr(time, "_ipcgrader_real_sleep", time.sleep)
    _clock = time.monotonic
    os.register_at_fork(after_in_child=_forget)
