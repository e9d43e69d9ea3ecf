"""Progress of a batch: a live bar on a terminal, plain periodic lines in CI logs.

Both count gradings by outcome and estimate the time left from the gradings made in this
run only (unchanged ones skipped from the gradebook would make the rate look too fast).
"""

from __future__ import annotations

import time
from typing import Any, Protocol, TextIO

from ipcgrader.i18n import _
from ipcgrader.results import ExerciseResult, Status

#: Seconds between two plain progress lines (plus one line at the end).
PLAIN_INTERVAL_S = 10.0


class BatchProgress(Protocol):
    """What the batch tells its progress display."""

    def start(self, total: int, skipped: int) -> None:
        """``total`` gradings in the batch, of which ``skipped`` are already current."""

    def advance(self, label: str, result: ExerciseResult) -> None:
        """A grading finished (``label`` names student and exercise)."""

    def note(self, text: str) -> None:
        """A message for the user that must not break the display."""

    def close(self) -> None:
        """The batch ended (or was interrupted): leave the display in a clean state."""


class _Counts:
    def __init__(self) -> None:
        self.total = self.skipped = self.done = 0
        self.by_status = {status: 0 for status in Status}
        self.started = time.monotonic()

    def add(self, result: ExerciseResult) -> None:
        self.done += 1
        self.by_status[result.status] += 1

    def eta_s(self) -> float | None:
        left = self.total - self.skipped - self.done
        if self.done == 0 or left <= 0:
            return None if left > 0 else 0.0
        return (time.monotonic() - self.started) / self.done * left

    def summary(self) -> str:
        s = self.by_status
        return _(
            "passed {passed}, failed {failed}, grader errors {errors}, unchanged {unchanged}"
        ).format(
            passed=s[Status.passed],
            failed=s[Status.failed],
            errors=s[Status.error],
            unchanged=self.skipped,
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


class PlainProgress:
    """One line every ``interval_s`` seconds (and at the end): readable in CI logs."""

    def __init__(self, stream: TextIO, interval_s: float = PLAIN_INTERVAL_S) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.counts = _Counts()
        self._last = 0.0

    def _line(self) -> None:
        c = self.counts
        finished = c.skipped + c.done
        percent = 100 * finished // c.total if c.total else 100
        line = _(
            "ipcgrade batch: {finished}/{total} ({percent}%) {summary}; elapsed {elapsed}, "
            "eta {eta}"
        ).format(
            finished=finished,
            total=c.total,
            percent=percent,
            summary=c.summary(),
            elapsed=_duration(time.monotonic() - c.started),
            eta=_duration(c.eta_s()),
        )
        self.stream.write(line + "\n")
        self.stream.flush()
        self._last = time.monotonic()

    def start(self, total: int, skipped: int) -> None:
        """Print the first line."""
        self.counts.total, self.counts.skipped = total, skipped
        self.counts.started = time.monotonic()
        self._line()

    def advance(self, label: str, result: ExerciseResult) -> None:
        """Count the result; print a line if the interval has passed."""
        self.counts.add(result)
        if time.monotonic() - self._last >= self.interval_s:
            self._line()

    def note(self, text: str) -> None:
        """Print ``text`` on its own line."""
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Print the final line."""
        self._line()


class RichProgress:
    """A live bar with counts and ETA, drawn by rich on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console  # imported only on a terminal: rich is slow to load
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.counts = _Counts()
        self._progress = Progress(
            TextColumn("[bold]grading"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=Console(file=stream),
            transient=False,
        )
        self._task: Any = None

    def _counts(self) -> str:
        s = self.counts.by_status
        return (
            f"[green]✓{s[Status.passed]}[/] [red]✗{s[Status.failed]}[/] "
            f"[yellow]!{s[Status.error]}[/] [dim]={self.counts.skipped}[/]"
        )

    def start(self, total: int, skipped: int) -> None:
        """Show the bar; unchanged gradings count as done from the start."""
        self.counts.total, self.counts.skipped = total, skipped
        self._progress.start()
        # rich estimates the rate from advances only, so the skipped ones do not skew the ETA
        self._task = self._progress.add_task(
            "grading", total=total, completed=skipped, counts=self._counts()
        )

    def advance(self, label: str, result: ExerciseResult) -> None:
        """Move the bar by one grading."""
        self.counts.add(result)
        self._progress.update(self._task, advance=1, counts=self._counts())

    def note(self, text: str) -> None:
        """Print ``text`` above the bar."""
        self._progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        """Stop redrawing; the last state of the bar stays on screen."""
        self._progress.stop()


def make_progress(stream: TextIO, mode: str = "auto") -> BatchProgress:
    """A bar when ``stream`` is a terminal (or ``mode="bar"``), plain lines otherwise."""
    if mode == "bar" or (mode == "auto" and stream.isatty()):
        return RichProgress(stream)
    return PlainProgress(stream)
