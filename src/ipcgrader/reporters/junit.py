"""``--format junit``: JUnit XML for CI test reporters, valid against ``junit-10.xsd``.

One testsuite per grading, one testcase per check. A check that failed *or could not be
checked* is a ``<failure>`` (its ``type`` says which): the schema has no ``<error>`` element,
and either way the points were not earned. A grader error is a single failing testcase.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.plugins import ReporterRegistry
from ipcgrader.results import ExerciseResult, Status

# Characters XML 1.0 cannot carry at all (student output may contain them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str) -> str:
    """``text`` with characters that XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _seconds(value: float) -> str:
    # the schema's SUREFIRE_TIME: digits, at most three decimals
    return f"{max(value, 0.0):.3f}"


def _points(value: float) -> str:
    return f"{value:g}"


def testsuite(result: ExerciseResult, name: str, classname: str) -> ET.Element:
    """The ``<testsuite>`` of one grading; testcases are named after the checks."""
    suite = ET.Element("testsuite", name=xml_text(name))
    failures = 0
    if result.status is Status.error and not result.checks:
        case = ET.SubElement(suite, "testcase", name="grading", classname=xml_text(classname))
        message = xml_text(result.error or _("the grader failed"))
        failure = ET.SubElement(case, "failure", type="grader-error", message=message)
        failure.text = message
        failures = 1
    for check in result.checks:
        case = ET.SubElement(
            suite,
            "testcase",
            name=xml_text(f"{check.id}: {check.name}"),
            classname=xml_text(classname),
        )
        if check.status is not Status.passed:
            failures += 1
            message = check.message or check.status.value
            failure = ET.SubElement(
                case,
                "failure",
                type="could-not-check" if check.status is Status.error else "failed",
                message=xml_text(message),
            )
            lines = [
                message,
                _("points: {score}/{max_score}").format(
                    score=_points(check.score), max_score=_points(check.max_score)
                ),
            ]
            if check.hint:
                lines.append(_("hint: {hint}").format(hint=check.hint))
            failure.text = xml_text("\n".join(lines))
    tests = max(len(result.checks), 1 if failures else 0)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", _seconds(result.duration_s))
    lines = [
        f"{result.exercise}: {_points(result.score)}/{_points(result.max_score)} points "
        f"({result.status.value})",
        *(
            f"{d.file or ''}{f':{d.line}' if d.line else ''}: {d.kind}: {d.message}"
            for d in result.diagnostics
        ),
    ]
    ET.SubElement(suite, "system-out").text = xml_text("\n".join(lines))
    return suite


def document(suites: Iterable[ET.Element], name: str = "ipcgrader") -> str:
    """A complete ``<testsuites>`` document holding ``suites``, with totals."""
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for suite in suites:
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", _seconds(seconds))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


class JUnitReporter:
    """JUnit XML: what CI systems (GitHub, GitLab, Jenkins) show as test results."""

    name = "junit"
    description = "JUnit XML, one testcase per check (CI test reports)"

    def render(self, result: ExerciseResult) -> str:
        """The result as a JUnit XML document with one testsuite."""
        return document([testsuite(result, result.exercise, result.exercise)])


@hookimpl(trylast=True)
def ipcgrader_add_reporters(reporters: ReporterRegistry) -> None:
    """Register the JUnit XML reporter."""
    reporters.add(JUnitReporter())
