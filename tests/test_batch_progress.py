"""Progress of a batch: a rich bar on a terminal, plain lines in CI logs."""

from __future__ import annotations

import io

from ipcgrader.batch.progress import PlainProgress, RichProgress, make_progress
from ipcgrader.results import ExerciseResult, Status


def _result(status: Status) -> ExerciseResult:
    return ExerciseResult(
        exercise="ex", submission="s", status=status, score=0, max_score=1, duration_s=0
    )


def test_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = make_progress(stream)
    assert isinstance(progress, PlainProgress)
    progress.interval_s = 0  # a line per grading, so the test sees each one
    progress.start(total=5, skipped=2)
    progress.advance("alice/ex", _result(Status.passed))
    progress.advance("bob/ex", _result(Status.failed))
    progress.note("ipcgrade batch: stopping")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("ipcgrade batch: 2/5 (40%) passed 0, failed 0")
    assert "unchanged 2" in lines[0] and "eta ?" in lines[0]
    assert lines[2].startswith("ipcgrade batch: 4/5 (80%) passed 1, failed 1, grader errors 0")
    assert "ipcgrade batch: stopping" in lines
    assert lines[-1].startswith("ipcgrade batch: 4/5")


def test_plain_lines_are_periodic_not_per_grading() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream, interval_s=3600)
    progress.start(total=50, skipped=0)
    for _ in range(50):
        progress.advance("x/ex", _result(Status.passed))
    progress.close()
    assert len(stream.getvalue().splitlines()) == 2  # the first and the last line only


def test_rich_bar_counts_every_outcome() -> None:
    stream = io.StringIO()
    progress = make_progress(stream, mode="bar")
    assert isinstance(progress, RichProgress)
    progress.start(total=4, skipped=1)
    progress.advance("alice/ex", _result(Status.passed))
    progress.advance("bob/ex", _result(Status.failed))
    progress.note("a [bold]note[/] shown as typed")
    progress.close()
    text = stream.getvalue()
    assert "3/4" in text and "✓1 ✗1 !0 =1" in text
    assert "a [bold]note[/] shown as typed" in text
