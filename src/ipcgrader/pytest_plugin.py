"""pytest plugin (entry point ``pytest11``): exercises as pytest tests, and fixtures.

Collection: ``pytest EXERCISE_DIR [--ipcgrade-submission PATH]`` collects the folder's
``exercise.toml`` as one test item per check, named by its check id
(``last-ticket.no_race``). The exercise is graded once, when its first item runs; each item
then passes or fails with its check: the failure text has the check's message, hint and the
findings it made at the student's lines; the points go to the JUnit report. ``--junitxml``,
``-k``, ``-x`` and pytest-xdist (``--dist loadgroup``: one grading per exercise) work as
for any test. See docs/pytest.md.

An ``exercise.toml`` is collected only when asked: when ``--ipcgrade-submission`` is given,
or when the exercise folder or its ``exercise.toml`` is named on the command line. A test
suite that merely contains exercise folders (fixtures of a grader's own tests, say) is
collected as before.

Fixtures:

- ``ipcgrade``: ``ipcgrade(exercise_dir, submission=None, **options) -> ExerciseResult``
  grades for real, with a fresh plugin manager (installed plugins not autoloaded);
- ``ipcgrader_leftovers``: a function returning the pids of processes a grading left
  behind (should always be empty).

Importing this module imports nothing of the grader beyond :mod:`ipcgrader` itself: a test
run that collects no exercise pays nothing for the plugin being installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import pluggy

    from ipcgrader.loader import LoadedExercise
    from ipcgrader.results import CheckResult, ExerciseResult

SPEC_NAME = "exercise.toml"
#: The JUnit properties an item records (``record_property`` style).
POINTS, MAX_POINTS = "points", "max_points"


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--ipcgrade-submission``, ``--ipcgrade-view``, ``--ipcgrade-lang``."""
    group = parser.getgroup("ipcgrader", "grading exercises (ipcgrader)")
    group.addoption(
        "--ipcgrade-submission",
        metavar="PATH",
        help="grade PATH (file or folder) against every exercise folder collected; also "
        "collects exercise.toml files found under the given paths (default: an exercise "
        "named on the command line grades its own files)",
    )
    group.addoption(
        "--ipcgrade-view",
        choices=("instructor", "student"),
        default="instructor",
        help="student: collect only checks visible to students, and only the findings they may see",
    )
    group.addoption("--ipcgrade-lang", metavar="zh|en", help="language of the grader's messages")


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker items carry, and move points into schema-valid JUnit places."""
    config.addinivalue_line(
        "markers", "xdist_group(name): pytest-xdist --dist loadgroup runs a group on one worker"
    )
    config.pluginmanager.register(JUnitPoints(config), "ipcgrader-junit-points")


def _named_on_command_line(spec: Path, config: pytest.Config) -> bool:
    base = config.invocation_params.dir
    for arg in config.args:
        given = Path(base, arg.split("::", 1)[0]).resolve()
        if given in (spec.resolve(), spec.resolve().parent):
            return True
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> ExerciseFile | None:
    """An ``exercise.toml`` becomes an :class:`ExerciseFile`, when asked for (see above)."""
    if file_path.name != SPEC_NAME:
        return None
    config = parent.config
    if config.getoption("ipcgrade_submission") is None and not _named_on_command_line(
        file_path, config
    ):
        return None
    item: ExerciseFile = ExerciseFile.from_parent(parent, path=file_path)
    return item


class GradingProblem(Exception):
    """The grading could not be made (bad submission path, grader error): every item of the
    exercise fails with this one message."""


class CheckFailed(Exception):
    """A check did not pass; the message is the whole failure text."""


class ExerciseFile(pytest.File):
    """An exercise folder's spec: one item per check, one grading shared by them."""

    _loaded: LoadedExercise | None = None
    _pm: pluggy.PluginManager | None = None
    _graded: ExerciseResult | GradingProblem | None = None

    def collect(self) -> Iterator[CheckItem]:
        """One :class:`CheckItem` per check of the exercise, in spec order."""
        from ipcgrader.i18n import set_language
        from ipcgrader.loader import SpecError, load_exercise
        from ipcgrader.plugins import get_plugin_manager
        from ipcgrader.results import STUDENT_VISIBLE
        from ipcgrader.scoring import check_ids

        set_language(self.config.getoption("ipcgrade_lang"))
        self._pm = get_plugin_manager()
        try:
            self._loaded = load_exercise(self.path.parent, self._pm)
        except SpecError as exc:
            raise self.CollectError(str(exc)) from None
        exercise = self._loaded.spec
        student = self.config.getoption("ipcgrade_view") == "student"
        ids = check_ids(exercise)
        for scenario in exercise.scenarios:
            for index, expectation in enumerate(scenario.expect):
                if student and expectation.visibility.value != STUDENT_VISIBLE:
                    continue
                item: CheckItem = CheckItem.from_parent(
                    self,
                    name=ids[(scenario.id, index)],
                    title=f"{scenario.name or scenario.id}: {expectation.title()}",
                )
                item.add_marker(pytest.mark.xdist_group(name=f"ipcgrader-{exercise.id}"))
                yield item

    def submission(self) -> Path:
        """What is graded: ``--ipcgrade-submission``, else the exercise folder's files."""
        given = self.config.getoption("ipcgrade_submission")
        if given is None:
            return self.path.parent
        return Path(self.config.invocation_params.dir, given)

    def graded(self) -> ExerciseResult:
        """The grading of the submission, made once (on first use) and kept."""
        if self._graded is None:
            self._graded = self._grade()
        if isinstance(self._graded, GradingProblem):
            raise self._graded
        return self._graded

    def _grade(self) -> ExerciseResult | GradingProblem:
        from ipcgrader.i18n import _
        from ipcgrader.results import Status, student_view
        from ipcgrader.session import grade, internal_error
        from ipcgrader.submission import SubmissionError

        assert self._loaded is not None and self._pm is not None
        submission = self.submission()
        try:
            result = grade(self._loaded, submission, self._pm)
        except SubmissionError as exc:
            return GradingProblem(str(exc))
        except Exception as exc:  # the grader's own bug: a result, not a traceback
            result = internal_error(self._loaded.spec.id, submission, exc)
        if result.exercise_error:  # nothing of this grading is about the student
            text = _(
                "The exercise itself failed, not your code; please tell your instructor: {error}"
            )
            return GradingProblem(text.format(error=result.error or result.exercise_error))
        if result.status is Status.error and not result.checks:
            text = _("The grader failed, please tell your instructor: {error}")
            return GradingProblem(text.format(error=result.error or ""))
        graded: dict[str, ExerciseResult] = self.config.stash.setdefault(_GRADED, {})
        graded[self.nodeid] = result
        if self.config.getoption("ipcgrade_view") == "student":
            return student_view(result)
        return result


_GRADED = pytest.StashKey[dict[str, "ExerciseResult"]]()


def failure_text(result: ExerciseResult, check: CheckResult) -> str:
    """What a failed check's item shows: message, hint, and the findings it made (at the
    student's file and line), each once."""
    from ipcgrader.i18n import _
    from ipcgrader.results import Status, student_diagnostics

    lines = [
        _("{name}  [{score}/{max_score} points]").format(
            name=check.name, score=f"{check.score:g}", max_score=f"{check.max_score:g}"
        )
    ]
    if check.status is Status.error:
        lines.append(_("This check could not be made (no points)."))
    if check.message:
        lines.append(check.message)
    if check.hint:
        lines.append(_("hint: {hint}").format(hint=check.hint))
    findings = [d for d in student_diagnostics(result) if check.id in d.checks]
    if findings:
        lines.append(_("What we found in your code:"))
    for d in findings:
        where = f"{d.file}:{d.line}" if d.file and d.line else d.file or ""
        lines.append(f"  {where}: {d.message}" if where else f"  {d.message}")
        if d.hint:
            lines.append("    " + _("hint: {hint}").format(hint=d.hint))
    return "\n".join(lines)


class CheckItem(pytest.Item):
    """One check of an exercise: passes iff the check earned its points."""

    def __init__(self, *, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title

    def runtest(self) -> None:
        """Look the check up in the (shared) grading; fail with its text if it failed."""
        from ipcgrader.i18n import _
        from ipcgrader.results import Status

        assert isinstance(self.parent, ExerciseFile)
        result = self.parent.graded()
        check = next((c for c in result.checks if c.id == self.name), None)
        if check is None:  # a plugin changed the checks after collection
            raise GradingProblem(_("the grading has no check {id}").format(id=self.name))
        self.user_properties.append((POINTS, f"{check.score:g}"))
        self.user_properties.append((MAX_POINTS, f"{check.max_score:g}"))
        if check.status is not Status.passed:
            raise CheckFailed(failure_text(result, check))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        """The check's own words, no traceback of the grader."""
        if isinstance(excinfo.value, (CheckFailed, GradingProblem)):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        """Where the item comes from, for pytest's report headers."""
        return self.path, None, self.title


class JUnitPoints:
    """Puts the checks' points where the JUnit schema allows them.

    Items record ``points`` and ``max_points`` like ``record_property``. With
    ``junit_family=xunit1`` (or ``legacy``) pytest writes them into each ``<testcase>``, as
    for ``record_property``; the default family, ``xunit2``, follows the JUnit XSD, which
    has no ``<properties>`` in a testcase, so they become properties of the testsuite
    (``<nodeid> points = 2/3``, and per exercise ``<exercise> score = 17/37``).
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.totals: dict[str, list[float]] = {}

    def _xml(self) -> Any:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest moved it: properties stay per test
            return None
        xml = self.config.stash.get(xml_key, None)
        if xml is None or getattr(xml, "family", "xunit2") in ("xunit1", "legacy"):
            return None
        return xml

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Before the JUnit writer sees the report, move the points to the testsuite."""
        points = {k: str(v) for k, v in report.user_properties if k in (POINTS, MAX_POINTS)}
        if len(points) != 2:
            return
        xml = self._xml()
        if xml is None:
            return
        report.user_properties = [
            p for p in report.user_properties if p[0] not in (POINTS, MAX_POINTS)
        ]
        if report.when != "call":
            return
        xml.add_global_property(f"{report.nodeid} points", f"{points[POINTS]}/{points[MAX_POINTS]}")
        exercise = report.nodeid.split("::", 1)[0]
        total = self.totals.setdefault(exercise, [0.0, 0.0])
        total[0] += float(points[POINTS])
        total[1] += float(points[MAX_POINTS])

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        """Each exercise's total, before the JUnit writer writes the file."""
        xml = self._xml()
        if xml is None:
            return
        for exercise, (score, max_score) in sorted(self.totals.items()):
            xml.add_global_property(f"{exercise} score", f"{score:g}/{max_score:g}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line per graded exercise with its score."""
    graded = config.stash.get(_GRADED, {})
    if not graded:
        return
    from ipcgrader.i18n import _

    terminalreporter.write_sep("-", "ipcgrader")
    for _node, result in sorted(graded.items()):
        shown = os.path.relpath(result.submission, config.invocation_params.dir)
        if shown.startswith(".."):
            shown = result.submission
        terminalreporter.write_line(
            _("{exercise}: {score}/{max_score} points ({submission})").format(
                exercise=result.exercise,
                score=f"{result.score:g}",
                max_score=f"{result.max_score:g}",
                submission=shown,
            )
        )


def marked_processes(grader_pid: int | None = None) -> list[int]:
    """Pids of live processes of runs that the grader ``grader_pid`` (default: this
    process) started: they carry the run marker, which begins with the grader's pid."""
    from ipcgrader.sandbox import RUN_MARKER

    found = []
    owner = os.getpid() if grader_pid is None else grader_pid
    needle = f"{RUN_MARKER}={owner}-".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(item.startswith(needle) for item in environ.split(b"\0")):
            found.append(int(entry))
    return found


@pytest.fixture
def ipcgrader_leftovers() -> Callable[[], list[int]]:
    """Call it after grading: live processes of graded runs (expected: none)."""
    return marked_processes


@pytest.fixture
def ipcgrade() -> Callable[..., ExerciseResult]:
    """Grade ``submission`` (default: the exercise folder's own files) for real."""
    from ipcgrader.loader import load_exercise
    from ipcgrader.plugins import get_plugin_manager
    from ipcgrader.session import Options, grade

    def run(
        exercise_dir: str | os.PathLike[str],
        submission: str | os.PathLike[str] | None = None,
        plugins: tuple[object, ...] = (),
        **options: Any,
    ) -> ExerciseResult:
        pm = get_plugin_manager(autoload=False, plugins=plugins)
        loaded = load_exercise(Path(exercise_dir), pm)
        target = Path(submission) if submission is not None else loaded.directory
        return grade(loaded, target, pm, Options(**options))

    return run
