"""Builtin plugin that puts the harness into every run and reads its trace (grader side).

Before a run it prepends ``harness/inject`` to the run's ``PYTHONPATH`` and passes the run's
settings to the harness through environment variables (listed in ``sitecustomize.py``).
After the run it parses the trace into ``record.artifacts["trace"]`` (see
:mod:`ipcgrader.trace`), exposes each printed line with its pid as
``record.artifacts["output_lines"]``, and, when the run hung (a timeout, a deadlock, its CPU
budget used up), explains who was blocked on what.
"""

from __future__ import annotations

import os
from pathlib import Path

from ipcgrader import hookimpl
from ipcgrader.i18n import _
from ipcgrader.models import Exercise, Scenario
from ipcgrader.results import Diagnostic, RunRecord
from ipcgrader.sandbox import INJECT_DIR, RunRequest, precompile
from ipcgrader.trace import (
    TRACE_ARTIFACT,
    TRACE_FILE,
    WAIT_FOR_ARTIFACT,
    Event,
    Trace,
    diagnose_hang,
    read_trace,
    wait_for_graph,
)

#: Folder of race amplification's meeting markers, inside the run's meta_dir.
AMPLIFY_DIR = "amplify"
#: Folder of the processes' wait boards, inside the run's meta_dir.
WAITS_DIR = "waits"
#: How a run stopped when its trace tells who was stuck on what.
HANGS = ("timeout", "deadlock", "cpu_budget")


@hookimpl(tryfirst=True)
def ipcgrader_configure_run(
    exercise: Exercise, scenario: Scenario, request: RunRequest, meta_dir: Path
) -> None:
    """Inject the harness and pass it the run's trace options."""
    precompile(INJECT_DIR)  # imported by every process of the run
    options = exercise.trace_of(scenario)
    request.pythonpath.insert(0, str(INJECT_DIR))
    env = request.env
    env["IPCGRADER_WORKDIR"] = str(request.cwd)
    # Dilation applies whether or not events are recorded: verdicts never depend on it.
    env["IPCGRADER_DILATION"] = repr(options.dilation)
    if exercise.shared_files:
        env["IPCGRADER_SHARED"] = os.pathsep.join(exercise.shared_files)
        if options.atomic_writes:
            env["IPCGRADER_ATOMIC_WRITES"] = "1"
    if options.enabled:
        env["IPCGRADER_TRACE"] = str(meta_dir / TRACE_FILE)
        # deadlock detection: the processes publish their traced waits here
        boards = meta_dir / WAITS_DIR
        boards.mkdir(exist_ok=True)
        env["IPCGRADER_WAITS"] = str(boards)
        request.waits_dir = boards
        # shared files and shared state (Values, Arrays, Manager state) meet there; queue
        # and pipe items wait for asks
        if options.amplify:
            meeting = meta_dir / AMPLIFY_DIR
            meeting.mkdir(exist_ok=True)
            env["IPCGRADER_AMPLIFY_DIR"] = str(meeting)
            env["IPCGRADER_AMPLIFY_WAIT"] = repr(options.amplify_wait_s)


@hookimpl(tryfirst=True)
def ipcgrader_run_finished(
    exercise: Exercise, scenario: Scenario, record: RunRecord, meta_dir: Path
) -> None:
    """Parse the trace; on a timeout, say who was blocked on what."""
    if not exercise.trace_of(scenario).enabled:
        return
    trace = read_trace(meta_dir / TRACE_FILE)
    record.artifacts[TRACE_ARTIFACT] = trace
    for stream, key in (("stdout", "output_lines"), ("stderr", "stderr_lines")):
        lines = [{"pid": e.pid, "text": e.get("text", "")} for e in trace.output(stream)]
        captured = record.outcome.stdout if stream == "stdout" else record.outcome.stderr
        # Only when the trace saw every line: a student writing through os.write or
        # sys.stdout.buffer would otherwise lose lines for the checks that use these.
        if lines and len(lines) == len(captured.splitlines()):
            record.artifacts[key] = lines
    chosen = chosen_start_method(trace)
    if chosen is not None and record.start_method and chosen.get("method") != record.start_method:
        record.diagnostics.append(start_method_changed(chosen, record.start_method))
        # the run is labelled by the start method it really had ("failed only under ...")
        record.start_method = str(chosen.get("method"))
    if record.outcome.stopped in HANGS:
        deadlocked = record.outcome.stopped == "deadlock"
        if deadlocked:
            record.artifacts[WAIT_FOR_ARTIFACT] = wait_for_graph(trace).as_dict()
        record.diagnostics.extend(diagnose_hang(trace, deadlocked=deadlocked))


def chosen_start_method(trace: Trace) -> Event | None:
    """The main process's last ``set_start_method()`` call of the student's own code that
    took effect (the ``start_method`` event, with the student's line), if any. Calls made
    by multiprocessing itself (a spawn child's bootstrap) have no line of the student's."""
    chosen = None
    for event in trace.events:
        if event.kind != "start_method" or event.file is None:
            continue
        process = trace.processes.get(event.pid)
        if process is not None and process.role == "main":
            chosen = event
    return chosen


def start_method_changed(event: Event, planned: str) -> Diagnostic:
    """The student's ``set_start_method()`` made a run meant for ``planned`` start its
    processes another way: their call wins (as in ``python prog.py``), and this says so."""
    where = event.where or _("your program")
    return Diagnostic(
        kind="start_method_set",
        file=event.file,
        line=event.line,
        message=_(
            "at {where}, set_start_method('{method}') makes your processes start by "
            "{method}, so the runs meant to show your program under {planned} ran under "
            "{method} instead: how it works under {planned} was not seen"
        ).format(where=where, method=event.get("method"), planned=planned),
        hint=_(
            "A program that works under every start method needs no set_start_method() "
            "call: create the processes, locks and queues in main() and hand them to the "
            "processes in args=(...)."
        ),
    )
