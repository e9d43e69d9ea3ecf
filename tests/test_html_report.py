"""report.html: one self-contained page, every student string escaped, rendered for real in
headless Chromium (skipped with a reason where there is none)."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from ipcgrader.batch.charts import FAIL, PASS
from ipcgrader.batch.exports import write_exports
from ipcgrader.batch.gradebook import Fingerprint, Grading
from ipcgrader.batch.html_report import report_html
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status

from conftest import EXERCISES, SUBMISSIONS
from headless import find_browser, png_pixels, screenshot

HOSTILE = '<script>alert("x")</script>&amp;'
NO_BROWSER = "no Chromium on PATH (apt-get install chromium; .ci/run does where it can)"


def _grading(student: str, passed: int, run_time: float = 0.5, **extra: object) -> Grading:
    checks = [
        CheckResult(
            id=f"s.k{n}",
            name=f"check {n}",
            status=Status.passed if n < passed else Status.failed,
            score=2.0 if n < passed else 0.0,
            max_score=2.0,
            message="" if n < passed else f'wrong <b>{n}</b> "quoted" {HOSTILE}',
        )
        for n in range(4)
    ]
    result = ExerciseResult(
        exercise="lock_ticket",
        submission=f"subs/{student}",
        status=Status.passed if passed >= 4 else Status.failed,
        score=2.0 * min(passed, 4),
        max_score=8.0,
        duration_s=1.0,
        checks=checks,
        diagnostics=[
            Diagnostic(kind="race", file=f"{HOSTILE}.py", line=7, message=f"race {HOSTILE}",
                       checks=("s.k3",))
        ] if passed < 4 else [],
    )  # fmt: skip
    result = result.model_copy(update=extra)
    fingerprint = Fingerprint("a", "b", "c")
    return Grading(student, "lock_ticket", fingerprint, result, "2026-01-01T00:00:00Z", run_time)


def _class() -> list[Grading]:
    gradings = [_grading(f"student{n:02d}", n % 5, run_time=n / 10) for n in range(12)]
    gradings.append(_grading(HOSTILE, 2, run_time=9.0))
    broken = _grading("zipper", 0)
    broken = Grading(
        "zipper", "lock_ticket", broken.fingerprint,
        broken.result.model_copy(update={"diagnostics": [
            Diagnostic(kind="bad_archive", message=f"zipper.zip: not a readable zip {HOSTILE}")
        ]}),
        broken.graded_at,
    )  # fmt: skip
    error = _grading("erika", 0)
    error = Grading(
        "erika", "lock_ticket", error.fingerprint,
        ExerciseResult(exercise="lock_ticket", submission="subs/erika", status=Status.error,
                       score=0, max_score=0, duration_s=0, error="drivers/buy.py:3: NameError"),
        error.graded_at,
    )  # fmt: skip
    return [*gradings, broken, error]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grades")
    gradings = _class()
    write_exports(gradings, out)
    (out / "report.html").write_text(report_html(gradings, out), encoding="utf-8")
    return out / "report.html"


def test_report_is_self_contained_and_escapes_every_student_string(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and HOSTILE not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;" in html
    assert "wrong <b>" not in html and "wrong &lt;b&gt;" in html
    # nothing is loaded from anywhere, and a policy forbids it anyway
    assert not re.search(r"https?:|//[a-z]|<link|<img|src=|url\(|@import", html, re.I)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs and all(h.startswith("results/") for h in hrefs)
    # write_exports puts a feedback .md beside every .json: the links go to those
    assert "results/student01/lock_ticket.md" in hrefs
    assert "results/student02/lock_ticket.md" in hrefs
    assert "results/%3Cscript%3Ealert%28%22x%22%29%3C/script%3E%26amp%3B/lock_ticket.md" in hrefs


def test_report_sets_errors_and_ungradable_submissions_apart(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    apart = html.split("Errors of the exercise or the grader", 1)[1].split("<h2>Slowest", 1)[0]
    assert "drivers/buy.py:3: NameError" in apart
    assert "Submissions that could not be run" in apart and "zipper.zip: not a readable" in apart
    assert "student0" not in apart  # graded students are not listed there
    assert html.count("<svg") >= 3  # distribution, pass-rate meters, slowest
    # the most common finding of the check that failed most, with an example student
    assert (
        "race &lt;script&gt;" in html
        and "(&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;amp;.py:7)" in html
    )


def test_report_renders_in_chromium(page: Path, tmp_path: Path) -> None:
    if find_browser() is None:
        pytest.skip(NO_BROWSER)
    png = tmp_path / "report.png"
    screenshot(page, png, width=900, height=700)
    width, height, pixels = png_pixels(png)
    assert (width, height) == (900, 700)
    colours = Counter(pixels)
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert colours[(255, 255, 255)] < 0.97 * len(pixels)
    # the distribution chart's bars: full marks in green, low scores in red
    assert _rgb(PASS) in colours and _rgb(FAIL) in colours


def _rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


CLASS_NAMES = [f"s{n:02d}" for n in range(28)] + ["王小明", '<img src=x onerror=alert(1)>"&']


@pytest.mark.slow
def test_class_of_32_renders_in_chromium(tmp_path: Path) -> None:
    """A real batch: 30 students over every lock_ticket variant (correct, racy, crashing,
    hanging, syntax error), an empty folder and a broken zip; its report in Chromium."""
    from ipcgrader.cli import main

    if find_browser() is None:
        pytest.skip(NO_BROWSER)
    variants = sorted((SUBMISSIONS / "lock_ticket").glob("*.py"))
    subs = tmp_path / "subs"
    for n, name in enumerate(CLASS_NAMES):
        (subs / name).mkdir(parents=True)
        shutil.copyfile(variants[n % len(variants)], subs / name / "ticket.py")
    (subs / "empty").mkdir()
    (subs / "broken.zip").write_bytes(b"PK not a zip")
    out = tmp_path / "out"
    code = main(["batch", str(EXERCISES / "lock_ticket"), "--submissions", str(subs),
                 "--out", str(out), "--progress", "plain"])  # fmt: skip
    assert code == 1
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<td class="num') >= 2 * 32  # a score and a total per student
    assert "onerror=alert" not in html.replace("&lt;img src=x onerror=alert(1)&gt;", "")
    assert "Submissions that could not be run" in html
    png = tmp_path / "report.png"
    screenshot(out / "report.html", png, width=1280, height=3600)
    _, _, pixels = png_pixels(png)
    assert len(set(pixels)) > 200
