"""``report.html``: the class at a glance, in one self-contained file.

Inline styles and inline SVG only: no script, no font, no stylesheet or image from anywhere,
so it opens offline, from an archive or an e-mail, and a Content-Security-Policy forbids
loading anything at all. Every string that comes from a student (folder names, file names,
messages quoting their output) is escaped. A pure function of the stored gradings, like the
other exports; links point at each student's feedback file beside it (``.md`` when the
batch wrote one, else the ``.json``).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from ipcgrader.batch.charts import BAR, FAIL, PASS, bar_chart, column_chart, meter
from ipcgrader.batch.gradebook import Grading
from ipcgrader.i18n import _, language
from ipcgrader.results import Diagnostic, Status

#: Findings that mean the submission could not be run at all.
UNGRADABLE_KINDS = frozenset({"bad_archive", "missing_file", "syntax_error", "unreadable"})
#: How many of the slowest gradings are charted.
SLOWEST = 10

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;
margin:24px auto;max-width:1100px;padding:0 16px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid
#d0d7de;padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border:1px solid #d0d7de;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f6f8fa}
td.num{text-align:right;white-space:nowrap}.tiles{display:flex;gap:10px;flex-wrap:wrap;
margin:12px 0}.tile{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:110px}
.tile b{display:block;font-size:22px}.passed{background:#dafbe1}.failed{background:#ffebe9}
.error{background:#fff1d6}.ungradable{background:#eaeef2}.muted{color:#59636e}
code{font-size:12px;background:#f6f8fa;padding:1px 4px;border-radius:4px}
a{color:#0969da}svg.chart{max-width:100%;height:auto}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _points(value: float) -> str:
    return f"{value:g}"


def feedback_href(out: Path, student: str, exercise: str) -> str:
    """Link from report.html to a student's feedback on one exercise."""
    for suffix in (".md", ".json"):
        if (out / "results" / student / f"{exercise}{suffix}").is_file():
            break
    return f"results/{quote(student)}/{quote(exercise)}{suffix}"


def kind_of(grading: Grading) -> str:
    """passed, failed, error (the exercise or the grader failed), or ungradable."""
    result = grading.result
    if result.status is Status.error:
        return "error"
    if any(d.kind in UNGRADABLE_KINDS for d in result.diagnostics):
        return "ungradable"
    return str(result.status.value)


def _link(out: Path, g: Grading, text: str) -> str:
    return f'<a href="{_e(feedback_href(out, g.student, g.exercise))}">{_e(text)}</a>'


def _tiles(gradings: Sequence[Grading]) -> str:
    kinds = Counter(kind_of(g) for g in gradings)
    tiles = [
        (_("students"), len({g.student for g in gradings}), ""),
        (_("full marks"), kinds["passed"], "passed"),
        (_("below full marks"), kinds["failed"], "failed"),
        (_("could not be run"), kinds["ungradable"], "ungradable"),
        (_("errors of the exercise or grader"), kinds["error"], "error"),
    ]
    return (
        '<div class="tiles">'
        + "".join(f'<div class="tile {css}"><b>{n}</b>{_e(label)}</div>' for label, n, css in tiles)
        + "</div>"
    )


def _distribution(gradings: Sequence[Grading], exercise: str) -> list[str]:
    mine = [g for g in gradings if g.exercise == exercise and g.result.status is not Status.error]
    if not mine:
        return []
    max_score = max(g.result.max_score for g in mine)
    scores = [g.result.score for g in mine]
    buckets = [0] * 11
    for score in scores:
        fraction = score / max_score if max_score else 1.0
        buckets[10 if fraction >= 1 - 1e-9 else min(int(fraction * 10), 9)] += 1
    labels = [f"{i * 10}%" for i in range(10)] + ["100%"]
    colors = [FAIL] * 5 + [BAR] * 5 + [PASS]
    stats = _("mean {mean}, median {median}, lowest {low}, highest {high}").format(
        mean=f"{statistics.fmean(scores):.1f}",
        median=_points(statistics.median(scores)),
        low=_points(min(scores)),
        high=_points(max(scores)),
    )
    title = _("Scores in {exercise} (out of {max_score})").format(
        exercise=exercise, max_score=_points(max_score)
    )
    return [
        f"<h3>{_e(title)}</h3>",
        f'<p class="muted">{_e(stats)}</p>',
        column_chart(labels, buckets, colors, title),
    ]


def _common_finding(
    failed: list[tuple[Grading, str, list[Diagnostic]]],
) -> tuple[str, int, Grading, str] | None:
    """The most common finding among failed gradings of one check: its text, how many
    gradings made it, and one example (grading and where)."""
    kinds: Counter[str] = Counter()
    first: dict[str, tuple[Grading, str, str]] = {}
    for g, message, findings in failed:
        keys: dict[str, Diagnostic | None] = {d.kind: d for d in findings} or {message: None}
        for key, d in keys.items():
            kinds[key] += 1
            if key not in first:
                where = f"{d.file}:{d.line}" if d and d.file and d.line else ""
                first[key] = (g, d.message if d else message, where)
    if not kinds:
        return None
    key, count = kinds.most_common(1)[0]
    g, text, where = first[key]
    return text, count, g, where


def _checks(gradings: Sequence[Grading], out: Path) -> list[str]:
    rows: dict[tuple[str, str], list[tuple[Grading, str, list[Diagnostic]] | None]] = {}
    names: dict[tuple[str, str], str] = {}
    for g in sorted(gradings, key=lambda g: g.student):
        for check in g.result.checks:
            key = (g.exercise, check.id)
            names.setdefault(key, check.name)
            entry = None
            if check.status is not Status.passed:
                linked = [d for d in g.result.diagnostics if check.id in d.checks]
                entry = (g, check.message, linked)
            rows.setdefault(key, []).append(entry)
    html = [
        f"<h2>{_e(_('Checks by pass rate (the most common mistake first)'))}</h2>",
        "<table><tr>"
        + "".join(
            f"<th>{_e(h)}</th>"
            for h in (_("exercise"), _("check"), _("passed"), _("most common finding"))
        )
        + "</tr>",
    ]
    order = sorted(rows, key=lambda k: (sum(e is None for e in rows[k]) / len(rows[k]), k))
    for key in order:
        entries = rows[key]
        passed = sum(e is None for e in entries)
        rate = passed / len(entries)
        color = PASS if rate >= 0.8 else BAR if rate >= 0.5 else FAIL
        common = _common_finding([e for e in entries if e is not None])
        finding = ""
        if common is not None:
            text, count, example, where = common
            label = f"{example.student}" + (f" ({where})" if where else "")
            how_many = _("{count} of {total} gradings; for example").format(
                count=count, total=len(entries)
            )
            finding = (
                f'{_e(text)}<br><span class="muted">{_e(how_many)} '
                f"{_link(out, example, label)}</span>"
            )
        html.append(
            f"<tr><td>{_e(key[0])}</td><td>{_e(names[key])}<br><code>{_e(key[1])}</code></td>"
            f'<td class="num">{meter(rate, color)} {passed}/{len(entries)}</td>'
            f"<td>{finding}</td></tr>"
        )
    html.append("</table>")
    return html


def _apart(gradings: Sequence[Grading], out: Path) -> list[str]:
    errors = [g for g in gradings if kind_of(g) == "error"]
    ungradable = [g for g in gradings if kind_of(g) == "ungradable"]
    html: list[str] = []
    if errors:
        html += [
            "<h2>" + _e(_("Errors of the exercise or the grader, not of the students")) + "</h2>",
            '<p class="muted">'
            + _e(
                _("These gradings say nothing about the students; the next run grades them again.")
            )
            + "</p><ul>",
        ]
        for g in errors:
            why = g.result.exercise_error or g.result.error or ""
            html.append(f"<li>{_link(out, g, f'{g.student}/{g.exercise}')}: {_e(why)}</li>")
        html.append("</ul>")
    if ungradable:
        html += [f"<h2>{_e(_('Submissions that could not be run'))}</h2>", "<ul>"]
        for g in ungradable:
            d = next(d for d in g.result.diagnostics if d.kind in UNGRADABLE_KINDS)
            where = f"{d.file}:{d.line}: " if d.file and d.line else f"{d.file}: " if d.file else ""
            html.append(
                f"<li>{_link(out, g, f'{g.student}/{g.exercise}')}: {_e(where + d.message)}</li>"
            )
        html.append("</ul>")
    return html


def _slowest(gradings: Sequence[Grading]) -> list[str]:
    slowest = sorted(gradings, key=lambda g: g.run_time_s, reverse=True)[:SLOWEST]
    if not slowest:
        return []
    title = _("Slowest submissions (time of their runs, summed)")
    labels = [f"{g.student}/{g.exercise}" for g in slowest]
    return [f"<h2>{_e(title)}</h2>", bar_chart(labels, [g.run_time_s for g in slowest], "s", title)]


def _students(gradings: Sequence[Grading], out: Path, exercises: list[str]) -> list[str]:
    by_student: dict[str, dict[str, Grading]] = {}
    for g in gradings:
        by_student.setdefault(g.student, {})[g.exercise] = g
    head = [_("student"), *exercises, _("total")]
    html = [
        f"<h2>{_e(_('Students'))}</h2>",
        "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>",
    ]
    for student in sorted(by_student):
        mine = by_student[student]
        cells = []
        for exercise in exercises:
            graded = mine.get(exercise)
            if graded is None:
                cells.append('<td class="num muted">–</td>')
                continue
            score = f"{_points(graded.result.score)}/{_points(graded.result.max_score)}"
            cells.append(f'<td class="num {kind_of(graded)}">{_link(out, graded, score)}</td>')
        total = _points(round(sum(g.result.score for g in mine.values()), 6))
        html.append(f'<tr><td>{_e(student)}</td>{"".join(cells)}<td class="num">{total}</td></tr>')
    html.append("</table>")
    return html


def report_html(gradings: Sequence[Grading], out: Path, note: str = "") -> str:
    """The whole report page of ``gradings``, whose exports are written in ``out``."""
    exercises = sorted({g.exercise for g in gradings})
    title = _("ipcgrader: class report")
    intro = _("{students} students, {gradings} gradings of {exercises}").format(
        students=len({g.student for g in gradings}),
        gradings=len(gradings),
        exercises=", ".join(exercises),
    )
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(intro)}</p>', _tiles(gradings)]
    if note:
        body.append(f"<p><em>{_e(note)}</em></p>")
    body.append(f"<h2>{_e(_('Score distribution'))}</h2>")
    for exercise in exercises:
        body += _distribution(gradings, exercise)
    body += _checks(gradings, out)
    body += _apart(gradings, out)
    body += _slowest(gradings)
    body += _students(gradings, out, exercises)
    return (
        f'<!DOCTYPE html>\n<html lang="{_e(language())}"><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
