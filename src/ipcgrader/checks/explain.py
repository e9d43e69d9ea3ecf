"""Turn trace findings into diagnostics a student understands, with their own lines.

Messages name lines, never pids or counts, so that the same mistake found in many runs is
reported once.
"""

from __future__ import annotations

from ipcgrader.i18n import N_, _
from ipcgrader.results import Diagnostic
from ipcgrader.trace import Access, AtomicityViolation, ProcessInfo, Race, Trace, unused_locks
from ipcgrader.trace.analyses import accesses, protects, read_modify_writes
from ipcgrader.tracebacks import pitfall_for

DEFAULT_CONSEQUENCE = N_("one process can overwrite another's update (a lost update)")
_SHARED_LOCK_HINT = N_(
    "Create one multiprocessing.Lock in the main program, pass it to every process, and "
    "hold it from the read until the write is done: one `with lock:` around both."
)


def state_name(state: str, key: str | None = None) -> str:
    """A kind of shared state (and one key or index of it) as a student reads it."""
    if state == "Value":
        return _("the multiprocessing.Value")
    if state == "Manager.Value":
        return _("the Manager().Value")
    if state == "Array":
        if key is None:
            return _("the multiprocessing.Array")
        return _("element {key} of the multiprocessing.Array").format(key=key)
    if state == "Manager.dict":
        if key is None:
            return _("the Manager().dict()")
        return _("key {key} of the Manager().dict()").format(key=key)
    return state


def _at(line: int | None) -> str:
    return _("line {line}").format(line=line) if line else _("a line outside your files")


def _pair(trace: Trace, file: str, access: Access) -> tuple[Access | None, Access | None]:
    """The read-modify-write ``access`` belongs to: (feeding read, write)."""
    mine = [a for a in accesses(trace, file) if a.pid == access.pid]
    for read, write in read_modify_writes(mine):
        if access.event in (write.event, read.event if read is not None else None):
            return read, write
    return (access, None) if access.op == "read" else (None, access)


def _created(trace: Trace, tag: str) -> str:
    info = trace.lock(tag)
    if info.created is not None and info.created.line:
        return _(" (created at line {line})").format(line=info.created.line)
    return ""


def _lines(file: str, read: Access | None, write: Access | None) -> str:
    file = state_name(file)
    if read is not None and write is not None:
        return _("{file} is read at {read} and written at {write}").format(
            file=file, read=_at(read.line), write=_at(write.line)
        )
    if read is not None:
        return _("{file} is read at {read}").format(file=file, read=_at(read.line))
    return _("{file} is written at {write}").format(
        file=file, write=_at(write.line if write else None)
    )


def race(trace: Trace, file: str, races: list[Race], consequence: str | None) -> list[Diagnostic]:
    """Explain the first race: which lines, which locks (or none), and why that fails."""
    found = races[0]
    # describe the access whose process protects least
    a, b = found.first, found.second
    focus = (
        a
        if len([t for t in a.held if protects(trace, t)])
        <= len([t for t in b.held if protects(trace, t)])
        else b
    )
    read, write = _pair(trace, file, focus)
    what = consequence or _(DEFAULT_CONSEQUENCE)
    held = [*(read.held if read else {}), *(write.held if write else {})]
    locks = [t for t in held if protects(trace, t)]
    where = (write or read or focus).event
    threading_locks = [t for t in held if not trace.lock(t).process_shared]
    if threading_locks and not locks:
        tag = threading_locks[0]
        return [
            Diagnostic(
                kind="thread_lock",
                file=where.file,
                line=where.line,
                message=_(
                    "{lines} holding a {kind}{created}. A threading lock only keeps out other "
                    "threads of the same process: every process has its own copy, so it does "
                    "not stop another process; {consequence}."
                ).format(
                    lines=_lines(file, read, write),
                    kind=trace.lock(tag).kind,
                    created=_created(trace, tag),
                    consequence=what,
                ),
                hint=_(
                    "Use multiprocessing.Lock (from multiprocessing import Lock) and pass "
                    "the same lock to every process."
                ),
            )
        ]
    semaphores = [t for t in held if t.startswith("S")]
    if semaphores and not locks:
        value = trace.lock(semaphores[0]).value
        return [
            Diagnostic(
                kind="race",
                file=where.file,
                line=where.line,
                message=_(
                    "{lines} holding a Semaphore({value}), which lets {value} processes in at "
                    "once; {consequence}."
                ).format(lines=_lines(file, read, write), value=value, consequence=what),
                hint=_(
                    "A semaphore guards a read-modify-write only with a value of 1: use a Lock."
                ),
            )
        ]
    read_locks = [t for t in (read.held if read else {}) if protects(trace, t)]
    write_locks = [t for t in (write.held if write else {}) if protects(trace, t)]
    if not read_locks and not write_locks:
        message = _(
            "{lines} while no lock is held, so other processes can do the same in between; "
            "{consequence}."
        ).format(lines=_lines(file, read, write), consequence=what)
    elif read is not None and not read_locks:
        message = _(
            "{file} is read at {read} with no lock held and only written under the lock "
            "(at {write}): two processes can both read the same value before either writes "
            "it back; {consequence}."
        ).format(
            file=state_name(file),
            read=_at(read.line),
            write=_at(write.line if write else None),
            consequence=what,
        )
    else:
        tag = (write_locks or read_locks)[0]
        info = trace.lock(tag)
        if info.created is not None and info.created.pid == focus.pid:
            message = _(
                "{lines} holding a lock that each process creates for itself{created}: no "
                "process ever waits for another's lock; {consequence}."
            ).format(
                lines=_lines(file, read, write), created=_created(trace, tag), consequence=what
            )
        else:
            message = _("{lines} by processes that hold no lock in common; {consequence}.").format(
                lines=_lines(file, read, write), consequence=what
            )
    return [
        Diagnostic(
            kind="race",
            file=where.file,
            line=where.line,
            message=message,
            hint=_(_SHARED_LOCK_HINT),
        )
    ]


#: The finding of a lock handed to the student's code (by an exercise's driver) that it never
#: acquires: said where the lock was needed, since the lock was made outside their files.
GIVEN_LOCK_NEVER_ACQUIRED = N_(
    "your code is given a lock but never acquires it, also not here where it is needed: a "
    "lock protects nothing until a process holds it"
)


def unused_locks_found(
    trace: Trace, needed: Access | None = None, shared: str | None = None
) -> list[Diagnostic]:
    """Locks that were made (by the student or handed to them) but never acquired: at the
    line that made it, or (a lock made outside the student's files) at ``needed``, the
    access the lock should have guarded. ``shared``: the shared file or kind of shared
    state the check judged, which the hint names."""
    if shared is None:
        hint = _("Use it: `with lock:` around the code that reads and writes the shared data.")
    else:
        hint = _("Use it: `with lock:` around the code that reads and writes {what}.").format(
            what=state_name(shared)
        )
    found = []
    for info in unused_locks(trace):
        created = info.created
        file: str | None
        line: int | None
        if created is not None and created.line:
            message = _(
                "the {kind} created here is never acquired: a lock protects nothing until a "
                "process holds it"
            ).format(kind=info.kind)
            file, line = created.file, created.line
        else:
            message = _(GIVEN_LOCK_NEVER_ACQUIRED)
            where = needed.event if needed is not None else created
            file = where.file if where is not None else None
            line = where.line if where is not None else None
        found.append(
            Diagnostic(
                kind="lock_never_acquired",
                file=file,
                line=line,
                message=message,
                hint=hint,
            )
        )
    return found


def atomicity(
    trace: Trace, file: str, violation: AtomicityViolation, consequence: str | None
) -> list[Diagnostic]:
    """Explain why a read and the write after it are not one step."""
    what = consequence or _(DEFAULT_CONSEQUENCE)
    read, write = violation.read, violation.write
    if violation.reason == "read_unlocked":
        # the same mistake no_race finds: said in the same words at the same place, so the
        # report shows it once, for both checks
        return race(trace, file, [Race(read, write)], consequence)
    lines = _lines(file, read, write)
    hint = _("Keep the lock from the read until the write is done: one `with lock:` around both.")
    if violation.reason == "released" and violation.lock is not None:
        first = read.held[violation.lock].since.line
        again = write.held[violation.lock].since.line
        message = _(
            "{lines}, both holding the lock, but the lock taken at {first} is released before "
            "the write and taken again at {again}: another process can read the same value in "
            "between; {consequence}."
        ).format(lines=lines, first=_at(first), again=_at(again), consequence=what)
    elif violation.reason == "write_unlocked":
        message = _(
            "{file} is read at {read} holding the lock but written at {write} after it was "
            "released; {consequence}."
        ).format(
            file=state_name(file), read=_at(read.line), write=_at(write.line), consequence=what
        )
    else:
        message = _(
            "{lines} under two different locks, so neither keeps others out; {consequence}."
        ).format(lines=lines, consequence=what)
    return [
        Diagnostic(
            kind="atomicity", file=read.event.file, line=read.line, message=message, hint=hint
        )
    ]


def serialised(trace: Trace, workers: list[ProcessInfo]) -> list[Diagnostic]:
    """Explain that start/join made the workers run one at a time."""
    first, second = workers[0], workers[1]
    join = next((e for e in first.joined if e.line), None)
    start = second.start if second.start is not None and second.start.line else None
    where = (
        _(" (join at line {join}, start at line {start})").format(join=join.line, start=start.line)
        if join and start
        else ""
    )
    anchor = start or join
    return [
        Diagnostic(
            kind="serialised",
            file=anchor.file if anchor is not None else None,
            line=anchor.line if anchor is not None else None,
            message=_(
                "the worker processes run one after another: each one is joined before the "
                "next is started{where}, so they never run at the same time"
            ).format(where=where),
            hint=_("Start every process first, then join them all in a second loop."),
        )
    ]


def crashes(crashed: list[ProcessInfo]) -> list[Diagnostic]:
    """One diagnostic per distinct way a child died, at the student's line: the line that
    raised, that called sys.exit()/os._exit(), or (a known mistake outside the student's
    code: wrong args, a lock lost before a spawned child got it) the line that started it."""
    found = []
    for process in crashed:
        exc = process.exception
        code = process.exitcode
        left = process.left
        kind = "child_crashed"
        file: object = None
        line: object = None
        if exc is not None:
            pitfall = pitfall_for(
                str(exc.get("type")),
                str(exc.get("message") or ""),
                student_frame=exc.get("line") is not None,
            )
            file, line = exc.get("file"), exc.get("line")
            if pitfall is not None and pitfall.outside_student:
                start = process.start
                file, line = (start.file, start.line) if start is not None else (None, None)
            if pitfall is not None:
                kind = pitfall.kind
                where = f"{file}:{line}" if file and line else _("your program")
                message = _(
                    "a child process died of {exception} (the process started at {where}): "
                    "{explanation}"
                ).format(exception=exc.get("type"), where=where, explanation=_(pitfall.explanation))
            else:
                detail = (
                    f"{exc.get('type')}: {exc.get('message')}"
                    if exc.get("message")
                    else exc.get("type")
                )
                if exc.get("line"):
                    message = _(
                        "a child process raised {exception} at line {line} and died; the main "
                        "program's exit status does not show this"
                    ).format(exception=detail, line=exc["line"])
                else:
                    message = _(
                        "a child process raised {exception} and died; the main program's exit "
                        "status does not show this"
                    ).format(exception=detail)
        elif left is not None:
            kind = "child_exited"
            file, line = left.get("file"), left.get("line")
            message = _(
                "a child process called {how}({code}) at {file}:{line} and ended there with "
                "status {status}: the rest of its work was never done"
            ).format(how=left.get("how"), code=left.get("code", ""), file=file, line=line,
                     status=code)  # fmt: skip
        elif code is not None and code < 0:
            message = _("a child process was killed by signal {signal}").format(signal=-code)
        else:
            message = _("a child process exited with status {status}").format(status=code)
        found.append(
            Diagnostic(
                kind=kind,
                file=file if isinstance(file, str) else None,
                line=line if isinstance(line, int) else None,
                message=message,
                hint=_(
                    "Run the function a child runs once in the main process to see its "
                    "traceback; an exception in a child ends only that child."
                ),
            )
        )
    return found


def exited_early(processes: list[ProcessInfo]) -> list[Diagnostic]:
    """Children whose code left by sys.exit()/os._exit() with status 0, at that line: no
    crash, but whatever came after the call never ran."""
    found = []
    for process in processes:
        left = process.left
        if left is None or process.crashed:
            continue
        found.append(
            Diagnostic(
                kind="child_exited",
                file=left.get("file") if isinstance(left.get("file"), str) else None,
                line=left.get("line") if isinstance(left.get("line"), int) else None,
                message=_(
                    "a child process called {how}() at {file}:{line}: it ended there, and "
                    "what its target would have done after that line never ran"
                ).format(how=left.get("how"), file=left.get("file"), line=left.get("line")),
                hint=_("To leave a function early, use return; sys.exit() ends the whole process."),
            )
        )
    return found
