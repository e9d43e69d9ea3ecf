"""``no_exception``: no exception (of the given types) escaped in any process of a run.

Read from the tracebacks on stderr, where child processes print theirs too
(``Process Process-1:`` followed by the traceback): a child's crash is invisible in the
parent's exit status, which is why this is a check of its own. A driver that catches an
exception a student's function let escape prints its traceback as well, so it counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field

from ipcgrader import hookimpl
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import Diagnostic, RunRecord, Verdict

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


def escaped_exceptions(stderr: str, student_files: set[str] | None = None) -> list[Escaped]:
    """Every traceback on stderr that was not followed by a chained one, in order.

    ``student_files``: basenames whose frames locate the exception; None takes any frame
    outside the standard library and site-packages.
    """
    lines = stderr.splitlines()
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
            if match and _is_student(match["file"], student_files):
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


def _is_student(path: str, student_files: set[str] | None) -> bool:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    if student_files is not None:
        return name in student_files
    return "/lib/python" not in path and "site-packages" not in path and not path.startswith("<")


class NoException(Expectation):
    """No traceback on stderr ends in one of ``exceptions`` (any exception if empty)."""

    kind: Literal["no_exception"]
    exceptions: list[str] = Field(
        default_factory=list,
        description="class names, e.g. ['Full', 'Empty']; empty: any exception",
    )
    files: list[str] | None = Field(
        None, description="the student's files, to locate the line; default: any non-library"
    )
    default_name: ClassVar[str] = "no exception escapes"
    needs_complete_run: ClassVar[bool] = False  # a crash is exactly what it reports

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail with the first matching exception and the student's line."""
        files = set(self.files) if self.files is not None else None
        wanted = {name.rsplit(".", 1)[-1] for name in self.exceptions}
        for escaped in escaped_exceptions(run.outcome.stderr, files):
            if wanted and escaped.short_name not in wanted:
                continue
            where = escaped.where()
            text = f"{escaped.exception} was raised"
            if where:
                text += f" at {where}"
            text += " and not caught"
            if escaped.child:
                text += " (in a child process)"
            if escaped.detail:
                text += f": {escaped.detail}"
            # the grader already reports the main process's own crash; a child's crash, or
            # one a driver caught (the run still exits 0), would otherwise go unlisted
            shown_elsewhere = not escaped.child and run.outcome.returncode not in (0, None)
            found = [] if shown_elsewhere else [
                Diagnostic(kind="uncaught_exception", file=escaped.file, line=escaped.line,
                           message=text)
            ]  # fmt: skip
            return Verdict(False, text, found)
        return Verdict(True)


@hookimpl(trylast=True)
def ipcgrader_add_expectation_kinds(kinds: KindRegistry) -> None:
    """Register the exception kind."""
    kinds.add(NoException)
