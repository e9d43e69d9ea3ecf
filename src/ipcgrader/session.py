"""Grade one submission against one exercise: plan the runs, make them, score them."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from ipcgrader import sandbox
from ipcgrader.fixtures import fixture_bytes, substitute_text
from ipcgrader.i18n import N_, _, map_values
from ipcgrader.loader import LoadedExercise
from ipcgrader.models import Exercise, Limits, Scenario
from ipcgrader.results import (
    Diagnostic,
    ExerciseCodeError,
    ExerciseResult,
    RunOutcome,
    RunRecord,
    Status,
    StudentError,
    exercise_location,
)
from ipcgrader.scoring import (
    check_ids,
    could_not_check,
    merge_diagnostics,
    overall_status,
    score_check,
    unrunnable_checks,
)
from ipcgrader.submission import Submission, compile_errors, resolve_submission
from ipcgrader.tracebacks import escaped_exceptions, pitfall_of
from ipcgrader.warm import WarmRunner

BOOTSTRAP = sandbox.HARNESS_DIR / "bootstrap.py"
#: Most runs of one grading made at once. Runs mostly wait (dilated sleeps, locks), so more
#: than the core count pays off, and it keeps a hanging submission's grading near one timeout.
MAX_PARALLEL_RUNS = 16
#: Written in a run's meta folder by the harness bootstrap: a student error it caught, and
#: a marker once the driver has returned.
STUDENT_STATUS = "student_status.json"
DRIVER_DONE = "driver_done"


@dataclass(frozen=True)
class Options:
    """Knobs of one grading that come from the command line, not the spec."""

    jobs: int | None = None
    timeout: float | None = None
    limits: Limits | None = None
    #: entered around every sandboxed run; batch grading passes one gate to all its gradings
    #: to cap the runs made at once across the batch, and it may raise to abort a grading
    run_gate: AbstractContextManager[object] | None = None
    #: the isolation level of every run (None: ``IPCGRADER_ISOLATION``, else the strongest);
    #: a cluster worker gets the batch's own, without changing its environment
    isolation: str | None = None
    #: the warm runner the runs are forked from, shared by the gradings of a batch (its
    #: owner closes it); None: one for this grading alone
    warm: WarmRunner | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One run to make: a scenario under one start method, one repeat."""

    scenario: Scenario
    start_method: str | None
    repeat: int


def plan_runs(exercise: Exercise) -> list[PlannedRun]:
    """Every run of every scenario, in spec order."""
    return [
        PlannedRun(scenario, method, repeat)
        for scenario in exercise.scenarios
        for method in exercise.start_methods_of(scenario)
        for repeat in range(scenario.repeats)
    ]


def crash_from_stderr(stderr: str, workdir: Path) -> StudentError | None:
    """The uncaught exception that ended the main process, located in the student's own
    files (those in the run's folder, not a library module that shares a name with one); a
    child's traceback only when the main one printed none."""
    escaped = escaped_exceptions(stderr, folder=str(workdir))
    if not escaped:
        return None
    last = next((e for e in reversed(escaped) if not e.child), escaped[-1])
    text = f"{last.exception}: {last.detail}" if last.detail else last.exception
    pitfall = pitfall_of(last)
    if pitfall is None:
        message = _("raised {exception}").format(exception=text)
    else:
        message = _("raised {exception}: {explanation}").format(
            exception=text, explanation=_(pitfall.explanation)
        )
    return StudentError(
        kind="exception" if pitfall is None else pitfall.kind,
        message=message,
        file=last.file,
        line=last.line,
        exception=last.exception,
    )


def read_own_file(folder: Path, name: str, limit: int = 1 << 20) -> bytes | None:
    """The first ``limit`` bytes of the run's file ``folder/name``; None when it is not a
    regular file of that folder. The grader reads as itself (root, maybe) what student code
    left: a link to /etc/shadow or to another run's file must not be followed."""
    path = folder / name
    try:
        if not os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read(limit)


def driver_folder(exercise_dir: Path, driver: Path) -> Path:
    """What of the exercise's folder a driven run may read: the driver's own folder, with
    the helpers it imports (``drivers/``), or only the driver when it sits at the top (the
    rest of the folder may hold a solution or hidden data)."""
    folder = driver.parent
    return driver if folder == exercise_dir.resolve() else folder


#: The harness's reports of a student error (it runs in the student's process and speaks
#: no language): said here, from its kind and parameters.
_HARNESS_MESSAGES = {
    "syntax_error": N_("SyntaxError: {reason}"),
    "import_error": N_("importing {file} raised {error}"),
    "missing_function": N_("{file} has no function {function}()"),
    "exited_early": N_("your code called sys.exit({code}) before the driver was done"),
}


def _harness_message(data: dict[str, Any]) -> str:
    template = _HARNESS_MESSAGES.get(str(data.get("kind")))
    params = data.get("params")
    if template is not None and isinstance(params, dict):
        values = {k: str(v) for k, v in params.items()}
        if "module" in values:
            # the file by its whole name, as a placeholder value of its own: naming the
            # student's file as handed in (session._as_handed_in) then holds in every language
            values["file"] = f"{values['module']}.py"
        try:
            return _(template).format(**values)
        except (KeyError, IndexError, ValueError):
            pass
    return str(data["message"])


class Grader:
    """Makes the runs of one grading. Thread-safe: runs share only read-only state."""

    def __init__(
        self,
        loaded: LoadedExercise,
        submission: Submission,
        pm: pluggy.PluginManager,
        options: Options,
        warm: WarmRunner | None = None,
    ) -> None:
        self.exercise = loaded.spec
        self.directory = loaded.directory
        self.submission = submission
        self.pm = pm
        self.options = options
        #: the grading's warm interpreter, that runs are forked from where they can be
        self.warm = warm

    def timeout_of(self, scenario: Scenario) -> float:
        """The wall timeout of a scenario's runs."""
        return self.options.timeout or scenario.timeout or self.exercise.timeout

    def limits_of(self, scenario: Scenario) -> Limits:
        """Limits: exercise, then scenario, then command line."""
        return self.exercise.limits.merged(scenario.limits).merged(self.options.limits)

    def request_for(self, planned: PlannedRun, work: Path, meta: Path) -> sandbox.RunRequest:
        """The command and environment of one run."""
        scenario = planned.scenario
        entry = self.exercise.entry[0]
        env = {k: substitute_text(v, scenario.params) for k, v in scenario.env.items()}
        readable: list[Path] = []
        if planned.start_method:
            env["IPCGRADER_START_METHOD"] = planned.start_method
        if scenario.driver is None:
            args = [substitute_text(a, scenario.params) for a in scenario.args]
            argv = [sys.executable, entry, *args]
        else:
            argv = [sys.executable, str(BOOTSTRAP)]
            driver = (self.directory / scenario.driver).resolve()
            readable.append(driver_folder(self.directory, driver))
            env["IPCGRADER_CALL"] = json.dumps(
                {
                    "module": Path(entry).stem,
                    "driver": str(driver),
                    "exercise_dir": str(self.directory.resolve()),
                    "params": scenario.params,
                    "start_method": planned.start_method,
                    "status": str(meta / STUDENT_STATUS),
                    "done": str(meta / DRIVER_DONE),
                }
            )
        return sandbox.RunRequest(
            argv=argv,
            cwd=work,
            timeout_s=self.timeout_of(scenario),
            limits=self.limits_of(scenario),
            env=env,
            readable=readable,
        )

    def collected_files(self, scenario: Scenario) -> list[str]:
        """Files whose final content is kept for the checks."""
        names = [*scenario.fixtures, *scenario.collect, *self.exercise.shared_files]
        return list(dict.fromkeys(names))

    def run(self, planned: PlannedRun) -> RunRecord:
        """Make one run in a fresh folder and return its record; the folder is deleted."""
        scenario = planned.scenario
        root = Path(tempfile.mkdtemp(prefix="ipcgrade-"))
        work = root / "work"
        work.mkdir()
        meta_root = root
        try:
            # the harness's files of the run: on a tmpfs where there is one (meta_parent)
            shm = sandbox.meta_parent()
            if shm is not None:
                meta_root = Path(tempfile.mkdtemp(prefix=sandbox.meta_prefix(), dir=shm))
            meta = meta_root / "meta"
            meta.mkdir()
            self.submission.copy_into(work)
            for name, value in scenario.fixtures.items():
                target = work / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(fixture_bytes(value, scenario.params))
            request = self.request_for(planned, work, meta)
            with self._exercise_code():
                self.pm.hook.ipcgrader_configure_run(
                    exercise=self.exercise, scenario=scenario, request=request, meta_dir=meta
                )
            with self.options.run_gate or nullcontext():
                outcome = sandbox.run(request, meta, level=self.options.isolation, warm=self.warm)
            files: dict[str, bytes | None] = {}
            for name in self.collected_files(scenario):
                files[name] = read_own_file(work, name)
            error = self._student_error(meta, work, outcome, driven=scenario.driver is not None)
            exercise_error = None
            if error is not None and error.kind == "exercise_error":
                where = f"{error.file}:{error.line}: " if error.file and error.line else ""
                where = where or (f"{error.file}: " if error.file else "")
                exercise_error, error = f"{where}{error.message}", None
            record = RunRecord(
                exercise_id=self.exercise.id,
                scenario_id=scenario.id,
                start_method=planned.start_method,
                repeat=planned.repeat,
                params=dict(scenario.params),
                outcome=outcome,
                files=files,
                student_error=error,
                exercise_error=exercise_error,
                timeout_s=request.timeout_s,
            )
            if exercise_error is None:
                with self._exercise_code():
                    self.pm.hook.ipcgrader_run_finished(
                        exercise=self.exercise, scenario=scenario, record=record, meta_dir=meta
                    )
            return record
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if meta_root != root:
                shutil.rmtree(meta_root, ignore_errors=True)

    @contextmanager
    def _exercise_code(self) -> Iterator[None]:
        """Around hook calls: a failure located in the exercise folder (its plugin.py) is
        an :class:`ExerciseCodeError`, not the grader's bug and not the student's."""
        try:
            yield
        except Exception as exc:
            where = exercise_location(exc, self.directory)
            if where is None:
                raise
            raise ExerciseCodeError(where) from exc

    @staticmethod
    def _student_error(
        meta: Path, work: Path, outcome: RunOutcome, *, driven: bool
    ) -> StudentError | None:
        status = read_own_file(meta, STUDENT_STATUS)
        if status is not None:
            try:
                data = json.loads(status.decode("utf-8"))
                return StudentError(
                    kind=str(data["kind"]),
                    message=_harness_message(data),
                    file=data.get("file"),
                    line=data.get("line"),
                    exception=data.get("exception"),
                )
            except (OSError, ValueError, KeyError, TypeError):
                pass
        if outcome.returncode not in (0, None):
            return crash_from_stderr(outcome.stderr, work)
        if driven and outcome.returncode == 0 and not (meta / DRIVER_DONE).exists():
            # exit status 0 but the driver never returned: only os._exit() (or a student's
            # own os.fork() child that finished first) ends a driven run that way
            return StudentError(
                kind="exited_early",
                message=_(
                    "the program ended before the exercise's driver was done "
                    "(os._exit() in the main process?)"
                ),
            )
        return None


def grade(
    loaded: LoadedExercise,
    submission_path: Path,
    pm: pluggy.PluginManager,
    options: Options | None = None,
    on_run: Callable[[RunRecord], None] | None = None,
) -> ExerciseResult:
    """Grade ``submission_path`` against ``loaded`` and return the result.

    Student problems (missing files, syntax errors, crashes, hangs) are results, not
    exceptions. ``SubmissionError`` is raised only when the path itself does not exist.
    """
    options = options or Options()
    started = time.monotonic()
    exercise = loaded.spec
    submission = resolve_submission(exercise, submission_path)

    def finish(
        checks: list[Any], diagnostics: list[Any], exercise_error: str | None = None
    ) -> ExerciseResult:
        checks, diagnostics = _as_handed_in(submission, checks, diagnostics)
        status = overall_status(checks, exercise.max_score)
        error = None
        if exercise_error is not None:
            # the exercise failed, not the student: no verdict, exit 2
            status = Status.error
            error = _("exercise error: {error}").format(error=exercise_error)
        result = ExerciseResult(
            exercise=exercise.id,
            submission=str(submission_path),
            status=status,
            error=error,
            exercise_error=exercise_error,
            score=round(sum(c.score for c in checks), 6),
            max_score=exercise.max_score,
            duration_s=round(time.monotonic() - started, 4),
            checks=checks,
            diagnostics=diagnostics,
        )
        pm.hook.ipcgrader_grading_finished(exercise=exercise, result=result)
        return result

    if submission.missing:
        names = ", ".join(submission.missing)
        reason = _("not graded: {files} not found in the submission").format(files=names)
        return finish(
            unrunnable_checks(exercise, reason),
            [
                Diagnostic(
                    kind="missing_file",
                    file=n,
                    message=_("{file} is missing").format(file=n),
                    hint=_("Hand in {file} under this name (the exercise's file).").format(file=n),
                )
                for n in submission.missing
            ],
        )
    syntax = compile_errors(submission)
    if syntax:
        first = syntax[0]
        reason = _("not graded: {problem}").format(problem=first.message)
        return finish(unrunnable_checks(exercise, reason), syntax)

    planned = plan_runs(exercise)
    workers = options.jobs or min(MAX_PARALLEL_RUNS, max(len(planned), 1))
    records: list[RunRecord] = []
    with (
        nullcontext(options.warm) if options.warm is not None else sandbox.warm_runner() as warm,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        grader = Grader(loaded, submission, pm, options, warm)
        for record in pool.map(grader.run, planned):
            records.append(record)
            if on_run is not None:
                on_run(record)
    ids = check_ids(exercise)
    broken = {r.scenario_id: r.exercise_error for r in records if r.exercise_error}
    checks = []
    for scenario in exercise.scenarios:
        runs = [r for r in records if r.scenario_id == scenario.id]
        for index, expectation in enumerate(scenario.expect):
            check_id = ids[(scenario.id, index)]
            if scenario.id in broken:
                checks.append(could_not_check(check_id, scenario, expectation, exercise))
                continue
            try:
                checks.append(
                    score_check(
                        check_id,
                        scenario,
                        expectation,
                        runs,
                        list(exercise.start_methods_of(scenario)),
                    )
                )
            except ExerciseCodeError as exc:
                broken[scenario.id] = str(exc)
                checks.append(could_not_check(check_id, scenario, expectation, exercise))
    diagnostics = merge_diagnostics([r for r in records if r.scenario_id not in broken])
    if broken:
        return finish(checks, diagnostics, exercise_error=next(iter(broken.values())))
    return finish(checks, diagnostics)


def _as_handed_in(
    submission: Submission, checks: list[Any], diagnostics: list[Any]
) -> tuple[list[Any], list[Any]]:
    """Findings name the student's files as handed in: a ``my_ticket.py`` graded as the
    exercise's ``ticket.py`` is ``my_ticket.py`` in every message and diagnostic."""
    renames = {
        name: source.name for name, source in submission.entries.items() if source.name != name
    }
    if not renames:
        return checks, diagnostics
    pattern = re.compile(
        r"(?<![\w.])(" + "|".join(re.escape(name) for name in renames) + r")(?![\w])"
    )

    def text(value: str | None) -> str | None:
        return None if value is None else pattern.sub(lambda m: renames[m.group(1)], value)

    def rename(value: str) -> str:
        return pattern.sub(lambda m: renames[m.group(1)], value)

    def sources(i18n: dict[str, Any]) -> dict[str, Any]:
        # the same renaming in how each text was made: it holds in every language
        return {field: map_values(source, rename) for field, source in i18n.items()}

    checks = [
        c.model_copy(
            update={"message": text(c.message), "hint": text(c.hint), "i18n": sources(c.i18n)}
        )
        for c in checks
    ]
    diagnostics = [
        d.model_copy(
            update={
                "file": renames.get(d.file, d.file) if d.file else d.file,
                "message": text(d.message),
                "hint": text(d.hint),
                "i18n": sources(d.i18n),
            }
        )
        for d in diagnostics
    ]
    return checks, diagnostics


def internal_error(exercise_id: str, submission: Path, exc: BaseException) -> ExerciseResult:
    """A result that says the grader itself failed (exit code 3), never a traceback."""
    return ExerciseResult(
        exercise=exercise_id,
        submission=str(submission),
        status=Status.error,
        score=0.0,
        max_score=0.0,
        duration_s=0.0,
        error=f"{type(exc).__name__}: {exc}",
    )


def default_jobs() -> int:
    """Cores available to this process."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
