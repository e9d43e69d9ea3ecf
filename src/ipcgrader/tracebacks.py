"""Reading Python tracebacks from a run's stderr: which exception escaped, and where in the
student's files. Shared by the ``no_exception`` check and by the grader, which reports the
crash of a run's main process."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>\S+))?')
_CHAINED = ("During handling of the above exception", "The above exception was the direct")


@dataclass(frozen=True)
class Escaped:
    """One exception that ended a traceback on stderr."""

    exception: str  # as printed, e.g. "queue.Full" or "EOFError"
    detail: str
    file: str | None  # basename of the innermost frame in one of the student's files
    line: int | None
    function: str | None
    child: bool  # printed by a multiprocessing child ("Process Process-1:")

    @property
    def short_name(self) -> str:
        """``Full`` for ``queue.Full``: the class name without its module."""
        return self.exception.rsplit(".", 1)[-1]

    def where(self) -> str:
        """``drain.py:12 in producer()``, or empty when no student frame was seen."""
        if self.file is None:
            return ""
        func = f" in {self.function}()" if self.function and self.function != "<module>" else ""
        return f"{self.file}:{self.line}{func}"


def escaped_exceptions(
    stderr: str, student_files: set[str] | None = None, *, folder: str | None = None
) -> list[Escaped]:
    """Every traceback on stderr that was not followed by a chained one, in order.

    Which frames locate the exception: with ``folder`` (the run's folder, where the
    student's files are), those of files in it; else with ``student_files``, those of files
    with these basenames; else any frame outside the standard library and site-packages.
    """
    if folder is not None:
        folder = os.path.realpath(folder)
    # split on "\n" only: a "\r" in an exception's text must not start a fake line
    lines = stderr.split("\n")
    found: list[Escaped] = []
    index = 0
    while index < len(lines):
        if not lines[index].startswith("Traceback (most recent call last):"):
            index += 1
            continue
        child = index > 0 and lines[index - 1].startswith("Process ")
        file = func = None
        line_no: int | None = None
        index += 1
        while index < len(lines) and (lines[index].startswith(" ") or not lines[index]):
            match = _FRAME.match(lines[index])
            if match and _is_student(match["file"], student_files, folder):
                file = match["file"].replace("\\", "/").rsplit("/", 1)[-1]
                line_no, func = int(match["line"]), match["func"]
            index += 1
        if index >= len(lines):
            break
        head, _, detail = lines[index].partition(":")
        index += 1
        following = next((text for text in lines[index:] if text.strip()), "")
        if following.startswith(_CHAINED):
            continue
        found.append(Escaped(head.strip(), detail.strip(), file, line_no, func, child))
    return found


def _is_student(path: str, student_files: set[str] | None, folder: str | None) -> bool:
    if folder is not None:  # a relative path is relative to the run's folder, its cwd
        return os.path.dirname(os.path.normpath(os.path.join(folder, path))) == folder
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if student_files is not None:
        return name in student_files
    return "/lib/python" not in path and "site-packages" not in path and not path.startswith("<")


@dataclass(frozen=True)
class Pitfall:
    """An exception that a known process-communication mistake raises, explained."""

    kind: str  # the diagnostic kind
    exception: str  # class name, without its module
    detail: re.Pattern[str]
    explanation: str


#: What the chapter's classic mistakes raise, in words a student understands.
PITFALLS = (
    Pitfall(
        "thread_lock",
        "TypeError",
        re.compile(r"cannot pickle '(_thread\.)?(r?lock|RLock)' object"),
        "a threading lock cannot be handed to another process (a process started with "
        "spawn, as on macOS and Windows, gets its arguments pickled); use "
        "multiprocessing.Lock(), which every process can share",
    ),
    Pitfall(
        "lock_not_inherited",
        "RuntimeError",
        re.compile(r"should only be shared between processes through inheritance"),
        "a multiprocessing lock (or queue) can only reach a process as an argument of "
        "Process(...) when it starts, not through a Queue, a Pipe or a Pool's task",
    ),
)


def pitfall_of(escaped: Escaped) -> Pitfall | None:
    """The known mistake behind ``escaped``, if it is one."""
    return next(
        (
            p
            for p in PITFALLS
            if escaped.short_name == p.exception and p.detail.search(escaped.detail)
        ),
        None,
    )
