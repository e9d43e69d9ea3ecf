"""The trace expectation kinds: verdict rules, spec validation, and an end-to-end proof that
a race is caught in a run where it did not happen."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest
from test_trace import buyers

from ipcgrader.checks.trace_checks import AtomicUpdate, ChildrenOk, NoRace
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.plugins import get_plugin_manager
from ipcgrader.results import RunOutcome, RunRecord
from ipcgrader.trace import TRACE_ARTIFACT, parse_trace

from conftest import EXERCISES, SUBMISSIONS


def record(lines: list[str] | None, stopped: str | None = None) -> RunRecord:
    run = RunRecord(
        exercise_id="x",
        scenario_id="s",
        start_method="fork",
        repeat=0,
        params={},
        outcome=RunOutcome(returncode=None if stopped else 0, stopped=stopped),
        timeout_s=1.0,
    )
    if lines is not None:
        run.artifacts[TRACE_ARTIFACT] = parse_trace(lines)
    return run


NO_RACE = NoRace.model_validate({"kind": "no_race", "file": "ticket.json"})


def test_a_missing_trace_is_could_not_check() -> None:
    assert NO_RACE.evaluate(record(None)).passed is None


def test_an_incomplete_trace_fails_on_a_finding_and_never_passes() -> None:
    racy = buyers("rw").lines
    safe = buyers("arwx").lines
    cut = [line for line in racy if '"exit"' not in line and '"joined"' not in line]
    assert not parse_trace(cut).complete
    assert NO_RACE.evaluate(record(cut, stopped="timeout")).passed is False
    safe_cut = safe[: next(i for i, line in enumerate(safe) if '"exit"' in line)]
    verdict = NO_RACE.evaluate(record(safe_cut, stopped="timeout"))
    assert verdict.passed is None
    assert "did not finish" in verdict.message
    assert NO_RACE.evaluate(record(safe)).passed is True


def test_explanations_name_the_lines() -> None:
    verdict = NO_RACE.evaluate(record(buyers("rw").lines))
    assert verdict.passed is False
    [race, unused] = verdict.diagnostics
    assert (race.kind, race.file, race.line) == ("race", "ticket.py", 25)
    assert "read at line 20 and written at line 25 while no lock is held" in race.message
    assert unused.kind == "lock_never_acquired" and unused.line == 36
    assert unused.hint is not None and "reads and writes ticket.json" in unused.hint
    # the same program on a multiprocessing.Value: the hint names it, not "the file"
    on_value = []
    for line in buyers("rw").lines:
        event = json.loads(line)
        if event.get("obj") == "ticket.json":
            event.update(obj="R1.7", state="Value")
        on_value.append(json.dumps(event))
    value_race = NoRace.model_validate({"kind": "no_race", "file": "Value"})
    [race, unused] = value_race.evaluate(record(on_value)).diagnostics
    assert "the multiprocessing.Value is read at line 20" in race.message
    assert unused.hint is not None and "reads and writes the multiprocessing.Value" in unused.hint
    atomic = AtomicUpdate.model_validate({"kind": "atomic_update", "file": "ticket.json"})
    verdict = atomic.evaluate(record(buyers("arxawx").lines))
    assert verdict.passed is False
    assert "released before the write and taken again at line 30" in verdict.message
    children = ChildrenOk.model_validate({"kind": "children_ok"})
    assert children.evaluate(record(buyers("rw").lines)).passed is True


def _exercise(tmp_path: Path, toml: str, driver: str | None = None) -> Path:
    folder = tmp_path / "exercise"
    folder.mkdir()
    (folder / "exercise.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    shutil.copyfile(EXERCISES / "lock_ticket" / "ticket.py", folder / "ticket.py")
    if driver is not None:
        (folder / "drivers").mkdir()
        (folder / "drivers" / "buy.py").write_text(textwrap.dedent(driver), encoding="utf-8")
    return folder


def test_a_trace_check_must_name_a_shared_file(tmp_path: Path) -> None:
    folder = _exercise(
        tmp_path,
        """\
        id = "t"
        title = "t"
        entry = ["ticket.py"]
        shared_files = ["ticket.json"]
        [[scenarios]]
        id = "s"
        [[scenarios.expect]]
        kind = "no_race"
        file = "other.json"
        """,
    )
    with pytest.raises(SpecError, match=r"other\.json"):
        load_exercise(folder, get_plugin_manager(autoload=False))


SEQUENTIAL_BUYERS = """\
    # The second buyer starts only once the first has finished, so nothing is oversold in
    # this run; but nothing in the program orders them (no join: the driver polls), so the
    # unlocked read-modify-write is a race all the same.
    import multiprocessing
    import time


    def drive(student, tickets, buyers):
        lock = multiprocessing.Lock()
        first = multiprocessing.Process(target=student.task, args=(lock,))
        second = multiprocessing.Process(target=student.task, args=(lock,))
        first.start()
        while first.exitcode is None:
            time.sleep(1)
        second.start()
        first.join()
        second.join()
"""


def test_a_race_that_did_not_oversell_still_fails_naming_the_lines(
    tmp_path: Path, ipcgrade: Any
) -> None:
    folder = _exercise(
        tmp_path,
        """\
        id = "sequential"
        title = "two buyers, one after the other"
        entry = ["ticket.py"]
        shared_files = ["ticket.json"]
        [trace]
        amplify = false
        [[scenarios]]
        id = "one-by-one"
        driver = "drivers/buy.py"
        params = { tickets = 1, buyers = 2 }
        fixtures = { "ticket.json" = '{"count": $tickets}' }
          [[scenarios.expect]]
          kind = "stdout_count"
          pattern = "购买成功"
          expected = 1
          [[scenarios.expect]]
          kind = "final_json"
          file = "ticket.json"
          path = "count"
          expected = 0
          [[scenarios.expect]]
          kind = "no_race"
          file = "ticket.json"
          ignore_read_only = true
        """,
        SEQUENTIAL_BUYERS,
    )
    result = ipcgrade(folder, SUBMISSIONS / "lock_ticket" / "no_lock.py")
    status = {c.id: c.status.value for c in result.checks}
    assert status == {
        "one-by-one.stdout_count": "passed",  # nothing was oversold in this run
        "one-by-one.final_json": "passed",
        "one-by-one.no_race": "failed",  # and yet the race is there
    }
    [race] = [d for d in result.diagnostics if d.kind == "race"]
    # findings name the file as handed in (no_lock.py, graded as ticket.py; issue 11)
    assert (race.file, race.line) == ("no_lock.py", 25)
    assert "read at line 20 and written at line 25" in race.message


def test_a_stopped_run_is_judged_on_what_happened_before_the_stop() -> None:
    """Issue 11 feedback, item 2: workers seen running at once did so (concurrent passes on
    a cut trace); what the stop kept a check from seeing is said, not "incomplete"."""
    from ipcgrader.checks.trace_checks import ChildrenJoined, Concurrent

    safe = buyers("arwx").lines
    cut = safe[: next(i for i, line in enumerate(safe) if '"exit"' in line)]
    stopped = record(cut, stopped="deadlock")
    stopped.outcome.reason = "deadlock"
    concurrent = Concurrent.model_validate({"kind": "concurrent"})
    assert concurrent.evaluate(stopped).passed is True
    verdict = NO_RACE.evaluate(stopped)
    assert verdict.passed is None
    assert "a deadlock" in verdict.message and "no two processes had raced on ticket.json" in (
        verdict.message
    )
    assert "incomplete" not in verdict.message
    joined = ChildrenJoined.model_validate({"kind": "children_joined"}).evaluate(stopped)
    assert joined.passed is None and "where the joins are" in joined.message
    # a worker that never started before the stop is not "only 1 worker ran"
    one = [line for line in cut if '"pid": 3' not in line and '"child": 3' not in line]
    assert concurrent.evaluate(record(one, stopped="deadlock")).passed is None


def test_no_missed_poll_says_its_place_once_and_never_passes_a_cut_run_that_took_nothing() -> None:
    from test_trace import Recorder, _poller, _timed_taker

    from ipcgrader.checks.ipc_trace import NoMissedPoll

    def judged(trace: Any) -> RunRecord:
        run = record(None)
        run.artifacts[TRACE_ARTIFACT] = trace
        return run

    check = NoMissedPoll.model_validate({"kind": "no_missed_poll"})
    verdict = check.evaluate(judged(_poller(False, "empty")))
    [found] = verdict.diagnostics
    assert (found.kind, found.file, found.line) == ("poll_can_miss", "ticket.py", 14)
    assert "ticket.py" not in found.message and found.message.startswith("empty() found")
    [timed] = check.evaluate(judged(_timed_taker(1))).diagnostics
    assert timed.line == 15 and "waits at most 1 s raised queue.Empty" in timed.message
    # started a producer and was stopped before anyone took anything: could not check
    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "queue_new", "Q1.1", line=30, queue="Queue", maxsize=3)
    ev(1, "start", child=2, name="Process-1")
    ev(2, "proc", role="forked")
    assert check.judge_trace(ev.trace(), record(ev.lines)).passed is None
    verdict = check.evaluate(record(ev.lines, stopped="timeout"))
    assert verdict.passed is None and "was stopped" in verdict.message
