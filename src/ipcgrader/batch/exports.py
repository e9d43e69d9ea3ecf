"""Files made from the gradebook: grades.csv, one JSON per submission, JUnit XML and a
Markdown summary. Pure functions of the stored gradings, so they can be remade at any time
(an unchanged rerun of a batch rewrites them in milliseconds)."""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from ipcgrader.batch.gradebook import Grading
from ipcgrader.batch.html_report import report_html
from ipcgrader.i18n import _, language, use_language
from ipcgrader.reporters import junit
from ipcgrader.reporters.json_report import result_object
from ipcgrader.reporters.markdown import cell, render_markdown
from ipcgrader.results import ExerciseResult, Status, student_view

#: How many of the slowest gradings the summary lists.
SLOWEST = 5
_BAR = 30


def _points(value: float) -> str:
    return f"{value:g}"


def exercise_ids(gradings: Sequence[Grading]) -> list[str]:
    """Exercises present in ``gradings``, sorted."""
    return sorted({g.exercise for g in gradings})


def grades_csv(gradings: Sequence[Grading]) -> str:
    """One row per student, one column per exercise (the score; empty if not graded) and
    the total."""
    exercises = exercise_ids(gradings)
    scores: dict[str, dict[str, float]] = {}
    for g in gradings:
        scores.setdefault(g.student, {})[g.exercise] = g.result.score
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *exercises, "total"])
    for student in sorted(scores):
        row = scores[student]
        writer.writerow(
            [
                student,
                *(_points(row[e]) if e in row else "" for e in exercises),
                _points(round(sum(row.values()), 6)),
            ]
        )
    return out.getvalue()


def junit_xml(gradings: Sequence[Grading]) -> str:
    """One testsuite per student × exercise, one testcase per check."""
    return junit.document(
        junit.testsuite(g.result, f"{g.student}/{g.exercise}", f"{g.student}.{g.exercise}")
        for g in gradings
    )


def _distribution(scores: list[float], max_score: float) -> list[str]:
    buckets = [0] * 11  # 0-9%, ..., 90-99%, 100%
    for score in scores:
        fraction = score / max_score if max_score else 1.0
        index = 10 if fraction >= 1 - 1e-9 else min(int(fraction * 10), 9)
        buckets[index] += 1
    widest = max(buckets) or 1
    lines = ["| score | gradings | |", "|---|---:|---|"]
    for index in range(10, -1, -1):
        label = "100%" if index == 10 else f"{index * 10}–{index * 10 + 9}%"
        bar = "█" * round(_BAR * buckets[index] / widest)
        lines.append(f"| {label} | {buckets[index]} | {bar} |")
    return lines


def summary_markdown(gradings: Sequence[Grading], note: str = "") -> str:
    """The class at a glance: score distribution per exercise, the pass rate of every check
    (the most common mistake first), the slowest gradings and any grader errors."""
    students = {g.student for g in gradings}
    full = sum(1 for g in gradings if g.result.status is Status.passed)
    errors = [
        g for g in gradings if g.result.status is Status.error and not g.result.exercise_error
    ]
    broken = [g for g in gradings if g.result.exercise_error]
    lines = [
        _("## ipcgrader: batch summary"),
        "",
        _(
            "**{students} students**, {gradings} gradings: {full} with full marks, {below} "
            "below, {errors} grader errors."
        ).format(
            students=len(students),
            gradings=len(gradings),
            full=full,
            below=len(gradings) - full - len(errors) - len(broken),
            errors=len(errors),
        ),
    ]
    if broken:
        lines += [
            "",
            _(
                "**{n} gradings were not made: the exercise itself failed** (not the "
                "students; fix it and run again): {error}"
            ).format(n=len(broken), error=broken[0].result.exercise_error),
        ]
    if note:
        lines += ["", note]
    for exercise in exercise_ids(gradings):
        mine = [g for g in gradings if g.exercise == exercise]
        scores = [g.result.score for g in mine]
        max_score = max(g.result.max_score for g in mine)
        lines += [
            "",
            _("### {exercise} (out of {max_score})").format(
                exercise=exercise, max_score=_points(max_score)
            ),
            "",
            _(
                "mean {mean:.1f}, median {median}, min {low}, max {high}; full marks {full}/{count}"
            ).format(
                mean=statistics.fmean(scores),
                median=_points(statistics.median(scores)),
                low=_points(min(scores)),
                high=_points(max(scores)),
                full=sum(1 for g in mine if g.result.status is Status.passed),
                count=len(mine),
            ),
            "",
            *_distribution(scores, max_score),
        ]
    lines += ["", *_check_rates(gradings)]
    # ranked by the submission's own run time: wall time in a batch includes queueing
    slowest = sorted(gradings, key=lambda g: g.run_time_s, reverse=True)[:SLOWEST]
    lines += ["", _("### Slowest submissions (time of their runs, summed)"), ""]
    lines += [_("| student | exercise | run time | status |"), "|---|---|---:|---|"]
    for g in slowest:
        lines.append(
            f"| {cell(g.student)} | {g.exercise} | {g.run_time_s:.1f} s | {g.result.status.value} |"
        )
    if errors:
        lines += ["", _("### Grader errors (graded again on the next run)"), ""]
        lines += [f"- {cell(g.student)}/{g.exercise}: {cell(g.result.error or '')}" for g in errors]
    return "\n".join(lines) + "\n"


def _check_rates(gradings: Sequence[Grading]) -> list[str]:
    rates: dict[tuple[str, str], list[int]] = {}
    names: dict[tuple[str, str], str] = {}
    for g in gradings:
        for check in g.result.checks:
            key = (g.exercise, check.id)
            names.setdefault(key, check.name)
            passed_total = rates.setdefault(key, [0, 0])
            passed_total[0] += check.status is Status.passed
            passed_total[1] += 1
    lines = [
        _("### Checks by pass rate (most common mistake first)"),
        "",
        _("| exercise | check | passed | rate |"),
        "|---|---|---:|---:|",
    ]
    order = sorted(rates, key=lambda k: (rates[k][0] / rates[k][1], k))
    for key in order:
        passed, total = rates[key]
        lines.append(
            f"| {key[0]} | `{key[1]}` {cell(names[key])} | {passed}/{total} | "
            f"{100 * passed / total:.0f}% |"
        )
    return lines


def feedback_markdown(result: ExerciseResult, lang: str) -> str:
    """The feedback file a student can keep: what they would have seen (hidden checks and
    their findings left out), in ``lang``."""
    with use_language(lang):
        return render_markdown(student_view(result).in_language(lang), heading="#")


def write_exports(
    gradings: Sequence[Grading],
    out: Path,
    note: str = "",
    step_summary: Path | None = None,
    feedback_lang: str | None = None,
) -> list[Path]:
    """Write every export into ``out``; append the summary to ``step_summary`` (GitHub's
    ``$GITHUB_STEP_SUMMARY``) when given. Returns the files written (per-submission JSON
    and feedback files as their folder).

    Beside each ``results/<student>/<exercise>.json`` goes ``<exercise>.md``, the feedback
    in ``feedback_lang`` (default: the language of the command). ``grades.csv`` is UTF-8
    with a byte-order mark, so that Excel shows 张三 and not mojibake."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results"
    lang = feedback_lang or language()
    for g in gradings:
        path = results / g.student / f"{g.exercise}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = result_object(g.result)
        path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        path.with_suffix(".md").write_text(feedback_markdown(g.result, lang), encoding="utf-8")
    summary = summary_markdown(gradings, note)
    files = {
        out / "grades.csv": grades_csv(gradings),
        out / "junit.xml": junit_xml(gradings),
        out / "summary.md": summary,
    }
    for path, text in files.items():
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8-sig" if path.suffix == ".csv" else "utf-8")
        tmp.replace(path)  # readers never see half a file
    # last: it links to the feedback files written above
    report = out / "report.html"
    tmp = report.with_name(report.name + ".tmp")
    tmp.write_text(report_html(gradings, out, note), encoding="utf-8")
    tmp.replace(report)
    if step_summary is not None:
        with step_summary.open("a", encoding="utf-8") as handle:
            handle.write(summary)
    return [*files, report, results]
