"""``no_exception``: no exception (of the given types) escaped in any process of a run.

Read from the tracebacks on stderr, where child processes print theirs too
(``Process Process-1:`` followed by the traceback): a child's crash is invisible in the
parent's exit status, which is why this is a check of its own. A driver that catches an
exception a student's function let escape prints its traceback as well, so it counts.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from ipcgrader import hookimpl
from ipcgrader.i18n import N_, _
from ipcgrader.models import Expectation
from ipcgrader.plugins import KindRegistry
from ipcgrader.results import Diagnostic, RunRecord, Verdict
from ipcgrader.tracebacks import Escaped, escaped_exceptions

__all__ = ["Escaped", "NoException", "escaped_exceptions"]


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
    default_name: ClassVar[str] = N_("no exception escapes")
    needs_complete_run: ClassVar[bool] = False  # a crash is exactly what it reports
    when_stopped: ClassVar[str | None] = (
        "judged even when the run did not end normally: an exception that escaped fails it; "
        "a run stopped for its CPU budget, at whatever point a loop had reached, does not "
        'pass it ("not judged": it could still have raised)'
    )

    def evaluate(self, run: RunRecord) -> Verdict:
        """Fail with the first matching exception and the student's line."""
        files = set(self.files) if self.files is not None else None
        wanted = {name.rsplit(".", 1)[-1] for name in self.exceptions}
        for escaped in escaped_exceptions(run.outcome.stderr, files):
            if wanted and escaped.short_name not in wanted:
                continue
            where = escaped.where()
            if escaped.child:
                text = _("{exception} was raised in a child process and not caught").format(
                    exception=escaped.exception
                )
            else:
                text = _("{exception} was raised and not caught").format(
                    exception=escaped.exception
                )
            if where:
                text = _("{problem} ({place})").format(problem=text, place=where)
            if escaped.detail:
                text = _("{problem}: {detail}").format(problem=text, detail=escaped.detail)
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
