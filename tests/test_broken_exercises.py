"""The broken-exercise corpus (tests/broken/): every authoring mistake is found when the
exercise loads — exit 2, the file and the mistake named, no traceback, no run made — so a
correct solution is never charged for the author's mistake."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import ipcgrader.cli.grade
from ipcgrader.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BROKEN = Path(__file__).resolve().parent / "broken"
VALID = BROKEN / "_valid"
SOLUTION = BROKEN / "_solution"
CASES = sorted(p.parent for p in BROKEN.glob("*/mistake.toml"))


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 20


def test_the_valid_base_gives_the_solution_full_marks(ipcgrade: Any) -> None:
    result = ipcgrade(VALID, SOLUTION)
    assert result.score == result.max_score, [c.message for c in result.checks]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_broken_exercise_is_rejected_at_load(
    case: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    mistake = tomllib.loads((case / "mistake.toml").read_text(encoding="utf-8"))

    def no_grading(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a broken exercise was graded")

    monkeypatch.setattr(ipcgrader.cli.grade, "grade", no_grading)
    code = main([str(case), "--submission", str(SOLUTION)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("ipcgrade: error: "), err
    assert "Traceback" not in err
    assert str(case / mistake["file"]) in err, err
    for text in mistake["says"]:
        assert text in err, f"{text!r} not in:\n{err}"


def test_list_marks_every_broken_exercise_invalid(capsys: Any) -> None:
    assert main(["list", str(BROKEN)]) == 2
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()}
    for case in CASES:
        assert "INVALID" in lines[case.name], out
    assert "INVALID" not in lines["broken_base"]
