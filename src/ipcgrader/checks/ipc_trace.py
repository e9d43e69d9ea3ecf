"""Trace-judged expectations about how processes share a lock and a pipe.

``locked_sections``: every worker prints its start line and its end line inside one
critical section of one lock that all workers share (mutual exclusion by construction,
whether or not the lines happened to interleave in this run).
``pipe_ends``: no end of a pipe is used (send or recv) by two processes.

Both judge the structure the trace recorded, never timing, so the verdict is the same on
every run. Findings name the student's lines, never pids (identical findings of many runs
are reported once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from ipcgrader import hookimpl
from ipcgrader.checks.trace_checks import TraceExpectation
from ipcgrader.i18n import N_, _
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import Diagnostic, RunRecord, Verdict
from ipcgrader.trace import Event, ProcessInfo, Trace
from ipcgrader.trace.analyses import Held, missed_polls, protects, replay, timed_take

_SHARE_HINT = N_(
    "Create one multiprocessing.Lock in the main program, pass it to every process in "
    "args=(...), and hold it around both lines: one `with lock:` around the whole section."
)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


def _at(event: Event | None) -> str:
    if event is None or event.where is None:
        return _("a line outside your files")
    return event.where


@dataclass(frozen=True)
class _Section:
    """A worker's start line and the end line that follows it, with the locks held."""

    start: Event
    end: Event
    held_start: Held
    held_end: Held
    releases: tuple[Event, ...]  # releases by the worker between the two lines


def _sections(
    trace: Trace, process: ProcessInfo, start: re.Pattern[str], end: re.Pattern[str]
) -> list[_Section]:
    found: list[_Section] = []
    opened: tuple[Event, Held] | None = None
    releases: list[Event] = []
    for event, held in replay(trace, process):
        if event.kind == "release" and opened is not None:
            releases.append(event)
        if event.kind != "out":
            continue
        text = str(event.get("text", ""))
        if start.search(text):
            opened, releases = (event, held), []
        elif end.search(text) and opened is not None:
            found.append(_Section(opened[0], event, opened[1], held, tuple(releases)))
            opened = None
    return found


def _shared_tags(trace: Trace, section: _Section) -> set[str]:
    """Locks held from the start line to the end line without a release in between."""
    return {
        tag
        for tag, hold in section.held_start.items()
        if protects(trace, tag)
        and tag in section.held_end
        and section.held_end[tag].section == hold.section
    }


def _unlocked(trace: Trace, section: _Section) -> Diagnostic:
    held = [tag for tag in section.held_start if protects(trace, tag)]
    if not held:
        others = [trace.lock(tag) for tag in section.held_start]
        if others:
            message = _(
                "the section's first line is printed here while the process holds only a "
                "{kind}, which other processes do not see: another process can print in the "
                "middle of the section"
            ).format(kind=others[0].kind)
        else:
            message = _(
                "the section's first line is printed here while the process holds no lock: "
                "another process can print in the middle of the section"
            )
        # the place is the finding's own file and line: the message does not repeat it
        return Diagnostic(
            kind="unlocked_output",
            file=section.start.file,
            line=section.start.line,
            message=message,
            hint=_(_SHARE_HINT),
        )
    tag = held[0]
    taken = section.held_start[tag].since
    release = next((e for e in section.releases if e.obj == tag), None)
    if release is not None and release.where == taken.where:
        # a with statement releases at its own line
        message = _(
            "the lock taken at {taken} is released when that `with` block ends, before {end} "
            "prints the section's last line: another process can print in between"
        ).format(taken=_at(taken), end=_at(section.end))
    else:
        message = _(
            "the lock taken at {taken} is released at {released}, before {end} prints the "
            "section's last line: another process can print in between"
        ).format(taken=_at(taken), released=_at(release), end=_at(section.end))
    return Diagnostic(
        kind="lock_released_early",
        file=release.file if release is not None else section.end.file,
        line=release.line if release is not None else section.end.line,
        message=message,
        hint=_("Keep both prints inside the same `with lock:` block."),
    )


def _private_lock(trace: Trace, section: _Section, tags: set[str]) -> Diagnostic:
    made = trace.lock(sorted(tags)[0]).created
    return Diagnostic(
        kind="private_lock",
        file=made.file if made is not None else section.start.file,
        line=made.line if made is not None else section.start.line,
        message=_(
            "the workers hold different locks: each process has a lock of its own, so none "
            "keeps the others out. A lock made inside the worker, or at module level under "
            "spawn (each child imports the module again), is not shared"
        ),
        hint=_(_SHARE_HINT),
    )


def could_interleave(trace: Trace, start: str, end: str) -> Diagnostic | None:
    """Why two workers' sections (a ``start`` line to the next ``end`` line) could print
    at the same time: no start/join edge orders them and no lock they share covers both
    from start to end. None if no two sections could interleave.

    This is what output alone cannot show: in a run where the processes happened not to
    overlap, unprotected sections print cleanly, yet they could interleave in the next.
    """
    begin, finish = re.compile(start), re.compile(end)
    found = [
        (process, section, _shared_tags(trace, section))
        for process in trace.workers()
        for section in _sections(trace, process, begin, finish)
    ]
    for index, (first, a, tags_a) in enumerate(found):
        for second, b, tags_b in found[index + 1 :]:
            if first.pid == second.pid or tags_a & tags_b:
                continue
            if trace.happens_before(a.end, b.start) or trace.happens_before(b.end, a.start):
                continue
            if not tags_a:
                return _unlocked(trace, a)
            if not tags_b:
                return _unlocked(trace, b)
            return _private_lock(trace, b, tags_b)
    return None


class LockedSections(TraceExpectation):
    """Each worker prints ``start`` and then ``end`` inside one critical section of a lock
    that every worker shares."""

    kind: Literal["locked_sections"]
    start: str = Field(description="regex of a section's first line")
    end: str = Field(description="regex of a section's last line")
    default_name: ClassVar[str] = N_("each section is printed under one shared lock")

    def undecided(self) -> str:
        """Every section seen (if any) was printed under the shared lock."""
        return _("every section printed was under one shared lock")

    @field_validator("start", "end")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _regex(value)

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail at the first section printed outside a lock, or when the workers' locks
        differ (each made its own, so none excludes the others)."""
        start, end = re.compile(self.start), re.compile(self.end)
        common: set[str] | None = None
        seen = 0
        for process in trace.workers():
            for section in _sections(trace, process, start, end):
                seen += 1
                tags = _shared_tags(trace, section)
                if not tags:
                    found = _unlocked(trace, section)
                    return Verdict(False, found.message, [found])
                common = tags if common is None else common & tags
                if not common:
                    return self._private(trace, section, tags)
        if seen == 0:
            if not trace.complete:  # stopped before any worker got there: proves nothing
                return Verdict(True)  # could not check (see evaluate)
            return Verdict(
                False,
                _("no worker printed a line matching “{pattern}”").format(pattern=self.start),
            )
        return Verdict(True)

    def _private(self, trace: Trace, section: _Section, tags: set[str]) -> Verdict:
        found = _private_lock(trace, section, tags)
        return Verdict(False, found.message, [found])


def _who(process: ProcessInfo | None) -> str:
    if process is None:
        return _("a process")
    if process.role == "main":
        return _("the main process")
    if process.target:
        return _("the child running {target}()").format(target=process.target)
    return _("a child process")


class PipeEnds(TraceExpectation):
    """No end of a pipe is used (send or recv) by two processes: each process talks on its
    own end. The multiprocessing docs warn that data may be corrupted otherwise."""

    kind: Literal["pipe_ends"]
    default_name: ClassVar[str] = N_("each process uses its own end of the pipe")

    def undecided(self) -> str:
        """No end had been used by two processes."""
        return _("no two processes had used the same end of a pipe")

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail when two processes call send() or recv() on the same end of one pipe."""
        users: dict[tuple[str, int], dict[int, Event]] = {}
        for event in trace.events:
            if event.kind in ("send", "recv") and event.obj is not None:
                key = (event.obj, int(event.get("end", -1)))
                users.setdefault(key, {}).setdefault(event.pid, event)
        if not users:
            # in a run that was cut short, not yet: could not check (see evaluate)
            return Verdict(
                not trace.complete,
                _("no process sent or received anything on a pipe, so there was nothing to judge"),
            )
        for (tag, _end), by_pid in sorted(users.items()):
            if len(by_pid) < 2:
                continue
            # main process first, then by line: the same words in every run
            first, second = sorted(by_pid.values(), key=lambda e: self._order(trace, e))[:2]
            made = trace.objects.get(tag)
            where = (
                _(" made at {where}").format(where=made.where)
                if made is not None and made.where
                else ""
            )
            found = Diagnostic(
                kind="shared_pipe_end",
                file=second.file,
                line=second.line,
                message=_(
                    "two processes use the same end of the pipe{where}: {first} calls "
                    "{first_call}() at {first_at} and {second} calls {second_call}() at "
                    "{second_at}. What is sent on an end arrives at the other end, so these "
                    "two do not talk to each other, and two readers of one end get its "
                    "messages at random"
                ).format(
                    where=where,
                    first=_who(trace.processes.get(first.pid)),
                    first_call=first.kind,
                    first_at=_at(first),
                    second=_who(trace.processes.get(second.pid)),
                    second_call=second.kind,
                    second_at=_at(second),
                ),
                hint=_(
                    "a, b = Pipe(): give one end to the child and keep the other; each "
                    "process uses only its own end."
                ),
            )
            return Verdict(False, found.message, [found])
        return Verdict(True)

    @staticmethod
    def _order(trace: Trace, event: Event) -> tuple[bool, str, int, str]:
        process = trace.processes.get(event.pid)
        main = process is not None and process.role == "main"
        return (not main, event.file or "", event.line or 0, event.kind)


def _seconds(timeout: object) -> str:
    """A timeout as the student wrote it: 1, 0.5."""
    return f"{timeout:g}" if isinstance(timeout, (int, float)) else str(timeout)


def missed_poll_found(event: Event, timed: Event | None = None) -> Diagnostic:
    """A poll that ended a loop while a producer could still put (or send), at its line.
    ``timed``: the take that waited at most a timeout (``timed_take``), if it was one."""
    # the place is the finding's own file and line: the messages do not repeat it
    if event.kind == "poll" and event.get("method") == "poll":
        if timed is not None:
            return Diagnostic(
                kind="poll_can_miss",
                file=event.file,
                line=event.line,
                message=_(
                    "poll({timeout}) found nothing to receive within its timeout here and "
                    "the process stopped reading this end of the pipe, while the process at "
                    "the other end was still running: a message it sends later than that is "
                    "never received"
                ).format(timeout=_seconds(event.get("timeout"))),
                hint=_(
                    "poll(timeout) only tells whether a message came within that time: a "
                    "slow sender is not a finished one. Receive with recv(), which waits, "
                    "until the other end sends its last message (None)."
                ),
            )
        return Diagnostic(
            kind="poll_can_miss",
            file=event.file,
            line=event.line,
            message=_(
                "poll() found nothing to receive here and the process stopped reading this "
                "end of the pipe, while the process at the other end was still running: a "
                "message it had not sent yet at that moment is never received"
            ),
            hint=_(
                "poll() only tells whether a message is there at this instant. Receive with "
                "recv(), which waits, until the other end sends its last message (None)."
            ),
        )
    if timed is not None:
        return Diagnostic(
            kind="poll_can_miss",
            file=event.file,
            line=event.line,
            message=_(
                "a get() that waits at most {timeout} s raised queue.Empty here and the "
                "process stopped taking from the queue, while a process that puts into it "
                "was still running: an item it puts later than that is never taken"
            ).format(timeout=_seconds(timed.get("timeout"))),
            hint=_(
                "A timeout only says that nothing came in that time: a slow producer is not "
                "a finished one. Go on after queue.Empty, or take with a blocking get(), "
                "until the producer's sentinel (None) arrives."
            ),
        )
    if event.kind == "poll":
        what = _("{method}() found the queue empty").format(method=event.get("method"))
    else:
        what = _("a get() that does not wait raised queue.Empty")
    return Diagnostic(
        kind="poll_can_miss",
        file=event.file,
        line=event.line,
        message=_(
            "{what} here and the process stopped taking from the queue, while a process "
            "that puts into it was still running: an item it had not put yet at that "
            "moment is never taken"
        ).format(what=what),
        hint=_(
            "An empty queue only means nothing is in it at this instant. Take items with a "
            "blocking get() until the producer's sentinel (None) arrives."
        ),
    )


class NoMissedPoll(TraceExpectation):
    """No process stops taking from a queue on an empty look (``empty()``, ``qsize()``,
    ``get_nowait()``, ``get(timeout=...)``), nor stops reading a pipe end on a ``poll()``
    that found nothing, while a producer could still put or send: judged from start/join
    order, so the verdict does not depend on who was faster."""

    kind: Literal["no_missed_poll"]
    default_name: ClassVar[str] = N_("stops on the sentinel, not on an empty queue")

    def undecided(self) -> str:
        """No loop had stopped on an empty look."""
        return _("no process had stopped taking from a queue on an empty look")

    def judge_trace(self, trace: Trace, run: RunRecord) -> Verdict:
        """Fail at the first poll that can miss an item."""
        takes = [
            e for e in trace.events if e.kind in ("get", "poll", "recv") and e.obj in trace.objects
        ]
        if not takes:
            # nothing taken: a failure on a whole run; on a cut one, not yet (could not
            # check, with how the run ended: see evaluate), never a pass
            return Verdict(
                None if not trace.complete else False,
                _("no process took anything from a queue or pipe, so there was nothing to judge"),
            )
        found = missed_polls(trace)
        if not found:
            return Verdict(True)
        diagnostics = [missed_poll_found(event, timed_take(trace, event)) for event in found[:1]]
        return Verdict(False, diagnostics[0].message, diagnostics)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the lock-section, pipe-end and queue-poll kinds."""
    for model in (LockedSections, PipeEnds, NoMissedPoll):
        kinds.add(model)
