"""Reading Python tracebacks from a run's stderr: which exception escaped, and where in the
student's files. Shared by the ``no_exception`` check and by the grader, which reports the
crash of a run's main process."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from ipcgrader.i18n import N_

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
    #: every frame's function, outermost first (which library code raised it)
    functions: tuple[str, ...] = ()

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
        functions: list[str] = []
        index += 1
        while index < len(lines) and (
            lines[index].startswith(" ") or not lines[index] or _interleaved(lines[index])
        ):
            # two children that crash at once print their tracebacks line by line into
            # the same stderr: another's "Process ...:" and "Traceback ..." lines may sit
            # among these frames, and the exception line comes after them all
            child = child or lines[index].startswith("Process ")
            match = _FRAME.match(lines[index])
            if match:
                functions.append(match["func"] or "")
            if match and _is_student(match["file"], student_files, folder):
                file = match["file"].replace("\\", "/").rsplit("/", 1)[-1]
                line_no, func = int(match["line"]), match["func"]
            index += 1
        if index >= len(lines):
            break
        head, _, detail = lines[index].partition(":")
        index += 1
        if not detail.strip():
            # a message that starts on the next line (multiprocessing's own RuntimeErrors)
            more: list[str] = []
            while index < len(lines) and lines[index].startswith(" ") and len(more) < 3:
                if lines[index].strip():
                    more.append(lines[index].strip())
                index += 1
            detail = " ".join(more)
        following = next((text for text in lines[index:] if text.strip()), "")
        if following.startswith(_CHAINED):
            continue
        found.append(
            Escaped(head.strip(), detail.strip(), file, line_no, func, child, tuple(functions))
        )
    return found


_PROCESS_HEADER = re.compile(r"^Process [\w.-]+:$")


def _interleaved(line: str) -> bool:
    """A traceback's first line, or multiprocessing's "Process Process-2:" above it: part
    of another process's traceback, never an exception line."""
    return line.startswith("Traceback (most recent call last):") or bool(
        _PROCESS_HEADER.match(line)
    )


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
    exception: str  # class name(s), without module, separated by "|"
    detail: re.Pattern[str]
    explanation: str
    #: a function the traceback must go through (which library code raised it), if any
    through: str | None = None
    #: only when no frame of the student's is in the traceback
    outside_student: bool = False


#: What the chapter's classic mistakes raise, in words a student understands.
PITFALLS = (
    Pitfall(
        "thread_lock",
        "TypeError",
        re.compile(r"cannot pickle '(_thread\.)?(r?lock|RLock)' object"),
        N_(
            "a threading lock cannot be handed to another process (a process started with "
            "spawn, as on macOS and Windows, gets its arguments pickled); use "
            "multiprocessing.Lock(), which every process can share"
        ),
    ),
    Pitfall(
        "no_main_guard",
        "RuntimeError",
        re.compile(r"bootstrapping phase"),
        N_(
            "a process was started while your module was being imported: under spawn (macOS, "
            "Windows, and Linux from Python 3.14 on) every child imports your module again, so "
            "code at module level runs in every child. Put the code that starts processes under "
            "`if __name__ == '__main__':`"
        ),
    ),
    Pitfall(
        "lost_before_start",
        "FileNotFoundError",
        re.compile(r"No such file or directory"),
        N_(
            "a child process started with spawn could not receive the lock or queue it was "
            "given: the process that made it had already let it go (it returned or ended "
            "without joining its children, so the object was freed). Join the processes before "
            "the function that made the lock returns"
        ),
        through="_rebuild",
        outside_student=True,
    ),
    Pitfall(
        "not_picklable",
        "AttributeError|PicklingError|TypeError",
        re.compile(r"(?i)can't (pickle|get) local object|can't pickle <function|cannot pickle"),
        N_(
            "the target of a Process must be a function defined at the top level of your module: "
            "under spawn it is sent to the child by name, and a lambda or a function defined "
            "inside another function has no name the child can find"
        ),
    ),
    Pitfall(
        "wrong_args",
        "TypeError",
        re.compile(
            r"positional arguments? but \d+ (was|were) given|missing \d+ required|"
            r"argument after \* must be an iterable|got an unexpected keyword"
        ),
        N_(
            "the target of a Process was called with the wrong arguments: args=(...) must be a "
            "tuple with one value per parameter of the target (one value is written (x,), with "
            "the comma)"
        ),
        through="run",
        outside_student=True,
    ),
    Pitfall(
        "lock_not_inherited",
        "RuntimeError",
        re.compile(r"should only be shared between processes through inheritance"),
        N_(
            "a multiprocessing lock (or queue) can only reach a process as an argument of "
            "Process(...) when it starts, not through a Queue, a Pipe or a Pool's task"
        ),
    ),
)


def pitfall_of(escaped: Escaped) -> Pitfall | None:
    """The known mistake behind ``escaped``, if it is one."""
    return pitfall_for(
        escaped.short_name,
        escaped.detail,
        escaped.functions,
        student_frame=escaped.file is not None,
    )


def pitfall_for(
    exception: str,
    detail: str,
    functions: tuple[str, ...] | None = None,
    *,
    student_frame: bool = False,
) -> Pitfall | None:
    """The known mistake behind an exception of type ``exception`` (class name) with
    message ``detail``; ``functions`` (the traceback's, None when unknown) and whether the
    student's code is in it narrow it down."""
    for pitfall in PITFALLS:
        if exception not in pitfall.exception.split("|"):
            continue
        if not pitfall.detail.search(detail):
            continue
        if pitfall.outside_student and student_frame:
            continue
        if (
            pitfall.through is not None
            and functions is not None
            and pitfall.through not in functions
        ):
            continue
        return pitfall
    return None
