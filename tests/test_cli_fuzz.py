"""Property: whatever option values the CLI gets, it exits 0, 1 or 2 (an error is one
``ipcgrade: error: ...`` line), never with a traceback or the internal-error status.

Bounded and deterministic (``derandomize``, no deadline). Most examples never grade: the
grading function is replaced by a canned result, so what is fuzzed is option handling; a
few examples grade a trivial exercise for real.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ipcgrader.cli.grade
from ipcgrader.cli import main
from ipcgrader.i18n import set_language
from ipcgrader.results import CheckResult, ExerciseResult, Status

SPEC = """\
id = "trivial"
title = "prints hello"
entry = ["hello.py"]
timeout = 20.0

[[scenarios]]
id = "run"

  [[scenarios.expect]]
  kind = "exit_code"

  [[scenarios.expect]]
  kind = "stdout_count"
  pattern = "hello"
  expected = 1
"""

NUMBERS = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "0.0",
    "1e12",
    "1e-9",
    "0.5",
    "3",
    "7",
    "1024",
    "1025",
    "99999999999999999999",
    "",
    " ",
    "1_0",
    "0x10",
    "١",
    "2.5",
    "1e3",
    "-0",
]
GRADE_VALUED = [
    "--timeout",
    "-j",
    "--jobs",
    "--memory-mb",
    "--cpu-s",
    "--processes",
    "--output-bytes",
    "--file-bytes",
    "--open-files",
    "--format",
    "--view",
    "--lang",
    "--submission",
]
BATCH_VALUED = [
    "--timeout",
    "-j",
    "--jobs",
    "--memory-mb",
    "--cpu-s",
    "--processes",
    "--progress",
    "--lang",
]
FLAGS = ["--no-color", "--no-plugins", "--force", "--bogus", "-x", "--", "-h"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fuzz")
    exercise = root / "trivial"
    exercise.mkdir()
    (exercise / "exercise.toml").write_text(SPEC, encoding="utf-8")
    (exercise / "hello.py").write_text("print('hello')\n", encoding="utf-8")
    (root / "afile").write_text("x", encoding="utf-8")
    (root / "afolder").mkdir()
    (root / "empty_submissions").mkdir()
    return {"root": root, "exercise": exercise}


def _safe_name(text: str) -> bool:
    # option values that become paths stay inside the test's own folder
    return "/" not in text and ".." not in text and not text.startswith("~")


def values(root: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NUMBERS),
        st.integers().map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(max_size=10).filter(_safe_name),
        st.sampled_from(
            [
                str(root / "afile"),
                str(root / "afolder"),
                str(root / "missing" / "deep" / "x.txt"),
                str(root / "afile" / "under_a_file"),
                "/proc/self/nope",
                "/",
                "terminal",
                "json",
                "gradescope",
                "student",
                "zh",
            ]
        ),
    )


def output_values(root: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(min_size=1, max_size=10).filter(_safe_name),
        st.sampled_from(
            [
                str(root / "afolder"),
                str(root / "afolder") + "/",
                str(root / "afile"),
                str(root / "new" / "report.txt"),
                str(root / "afile" / "x"),
                "/proc/self/x",
                "/",
                "",
            ]
        ),
    )


@contextlib.contextmanager
def _in(folder: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
        set_language("en")


def _run(argv: list[str], root: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with _in(root / "cwd"), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def _assert_clean(code: int, err: str, argv: list[str]) -> None:
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2 and err:
        assert err.startswith(("ipcgrade: error: ", "usage:")), (argv, err)


def _canned(*args: Any, **kwargs: Any) -> ExerciseResult:
    check = CheckResult(id="run.x", name="x", status=Status.passed, score=1, max_score=1)
    return ExerciseResult(
        exercise="trivial",
        submission="s",
        status=Status.passed,
        score=1,
        max_score=1,
        duration_s=0.0,
        checks=[check],
    )


def _options(draw: Any, names: list[str], root: Path) -> list[str]:
    argv: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            argv.append(draw(st.sampled_from(FLAGS)))
        elif kind == 1 and "--submission" in names:
            argv += [draw(st.sampled_from(["-o", "--output"])), draw(output_values(root))]
        else:
            argv += [draw(st.sampled_from(names)), draw(values(root))]
    return argv


@st.composite
def grade_argv(draw: Any, root: Path, exercise: Path) -> list[str]:
    first = draw(
        st.one_of(
            st.just(str(exercise)),
            st.sampled_from(["lsit", "bach", "schema", "list", "chek", str(root / "afile")]),
            st.text(max_size=8).filter(_safe_name),
        )
    )
    return [first, *_options(draw, GRADE_VALUED, root)]


@st.composite
def batch_argv(draw: Any, root: Path, exercise: Path) -> list[str]:
    out = draw(output_values(root))
    argv = ["batch", str(exercise), "--submissions", str(root / "empty_submissions")]
    return [*argv, "--out", out, *_options(draw, BATCH_VALUED, root)]


def test_arbitrary_options_never_crash_the_cli(
    world: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, exercise = world["root"], world["exercise"]
    (root / "cwd").mkdir(exist_ok=True)
    monkeypatch.setattr(ipcgrader.cli.grade, "grade", _canned)

    @settings(
        max_examples=80,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(argv=st.one_of(grade_argv(root, exercise), batch_argv(root, exercise)))
    def check(argv: list[str]) -> None:
        code, err = _run(argv, root)
        _assert_clean(code, err, argv)

    check()


def test_arbitrary_options_with_real_gradings(world: dict[str, Path]) -> None:
    root, exercise = world["root"], world["exercise"]
    (root / "cwd").mkdir(exist_ok=True)
    tame = st.sampled_from(["0.5", "5", "nan", "-1", "2", "64", "0", "1e12", "json", "zh"])

    @settings(max_examples=8, derandomize=True, deadline=None, database=None)
    @given(
        options=st.lists(
            st.tuples(
                st.sampled_from(
                    [
                        "--timeout",
                        "-j",
                        "--memory-mb",
                        "--processes",
                        "--format",
                        "--output-bytes",
                        "--open-files",
                        "--lang",
                    ]
                ),
                tame,
            ),
            max_size=3,
        )
    )
    def check(options: list[tuple[str, str]]) -> None:
        argv = [str(exercise), *(part for pair in options for part in pair)]
        code, err = _run(argv, root)
        _assert_clean(code, err, argv)

    check()
