"""What a student reads: each finding once, in words, in their language (issue 11's
feedback items). Unit tests on results, scoring and reporters: no grading is made here."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from ipcgrader import i18n
from ipcgrader.checks.explain import GIVEN_LOCK_NEVER_ACQUIRED
from ipcgrader.checks.observed import JsonValue
from ipcgrader.i18n import _, render
from ipcgrader.reporters.terminal import TerminalReporter
from ipcgrader.results import (
    CheckResult,
    Diagnostic,
    ExerciseResult,
    RunOutcome,
    RunRecord,
    Status,
)
from ipcgrader.scoring import merge_diagnostics, scenario_words
from ipcgrader.session import _as_handed_in, _harness_message
from ipcgrader.tracebacks import escaped_exceptions

from conftest import EXERCISES


def _check(n: int, message: str, status: Status = Status.failed, **more: Any) -> CheckResult:
    return CheckResult(
        id=f"s.c{n}",
        name=f"check {n}",
        title=f"check {n}",
        scenario_name=more.pop("scenario_name", "scenario"),
        status=status,
        score=0.0,
        max_score=1.0,
        message=message,
        scenario=more.pop("scenario", "s"),
        **more,
    )


def _render(*checks: CheckResult, findings: tuple[Diagnostic, ...] = ()) -> str:
    result = ExerciseResult(
        exercise="ex",
        submission="sub",
        status=Status.failed,
        score=0.0,
        max_score=float(len(checks)),
        duration_s=0.1,
        checks=list(checks),
        diagnostics=list(findings),
    )
    return TerminalReporter().render(result)


def test_as_above_folds_only_the_message_said_just_before() -> None:
    """Item 8: "(as above)" stands for the check right above; a message said only further
    up (another scenario, a check in between) is said again."""
    text = _render(
        _check(1, "ticket.json ends at 1"),
        _check(2, "tickets were oversold\nticket.json ends at 1", scenario="t", scenario_name="t"),
        _check(3, "ticket.json ends at 1", scenario="t", scenario_name="t"),
        _check(4, "ticket.json ends at 1", scenario="t", scenario_name="t"),
    )
    lines = text.splitlines()
    three = lines.index(next(x for x in lines if "check 3" in x))
    assert lines[three + 1].strip() == "ticket.json ends at 1"
    four = lines.index(next(x for x in lines if "check 4" in x))
    assert lines[four + 1].strip() == "(as above)"
    assert text.count("(as above)") == 1


def test_as_above_is_not_used_after_a_passed_check() -> None:
    text = _render(
        _check(1, "the program was stopped"),
        _check(2, "", status=Status.passed),
        _check(3, "the program was stopped"),
    )
    assert "(as above)" not in text and text.count("the program was stopped") == 2


def test_missing_function_names_the_handed_in_file_in_every_language() -> None:
    """Item 6: the file named as handed in, also when the stored result is said in zh."""
    with i18n.use_language("en"):
        message = _harness_message(
            {
                "kind": "missing_function",
                "message": "joins.py has no function run_in_order()",
                "params": {"module": "joins", "function": "run_in_order"},
            }
        )
    finding = Diagnostic(kind="missing_function", file="joins.py", message=message)
    submission = SimpleNamespace(entries={"joins.py": Path("hulu7_while_true.py")})
    _checks, (renamed,) = _as_handed_in(submission, [], [finding])  # type: ignore[arg-type]
    assert renamed.message == "hulu7_while_true.py has no function run_in_order()"
    with i18n.use_language("zh"):
        zh = render(renamed.i18n["message"])
    assert "hulu7_while_true.py" in zh and "joins.py" not in zh and "run_in_order()" in zh


def test_tracebacks_of_two_children_printed_at_once_keep_the_exception_name() -> None:
    """Item 3: two children crashing together interleave their tracebacks on stderr; the
    exception is NameError at the student's line, never "Traceback (most recent call last)"."""
    stderr = "\n".join(
        [
            "Process Process-1:",
            "Process Process-2:",
            "Traceback (most recent call last):",
            "Traceback (most recent call last):",
            '  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap',
            '  File "/usr/lib/python3.11/multiprocessing/process.py", line 314, in _bootstrap',
            "    self.run()",
            "    self.run()",
            '  File "/tmp/w/printer.py", line 10, in task',
            "    mutex.acquire()",
            '  File "/tmp/w/printer.py", line 10, in task',
            "    mutex.acquire()",
            "NameError: name 'mutex' is not defined",
            "NameError: name 'mutex' is not defined",
            "",
        ]
    )
    found = escaped_exceptions(stderr, {"printer.py"})
    assert found
    first = found[0]
    assert (first.exception, first.file, first.line, first.child) == (
        "NameError",
        "printer.py",
        10,
        True,
    )
    assert all(not e.exception.startswith("Traceback") for e in found)


def test_a_scenario_named_after_its_start_method_is_not_told_it_again() -> None:
    """Item 7: "main() under spawn", never "main() under spawn; under spawn"."""
    named = SimpleNamespace(name="main() under spawn", id="main-spawn")
    zh = SimpleNamespace(name="spawn 启动方式下的 main()", id="main-spawn")
    plain = SimpleNamespace(name="main()", id="main")
    with i18n.use_language("en"):
        assert scenario_words(named, ["spawn"]) == "main() under spawn"  # type: ignore[arg-type]
        assert scenario_words(plain, ["spawn"]) == "main(); under spawn"  # type: ignore[arg-type]
        assert scenario_words(plain, ["fork", "spawn"]) == "main(); also under spawn"  # type: ignore[arg-type]
    with i18n.use_language("zh"):
        assert scenario_words(zh, ["spawn"]) == "spawn 启动方式下的 main()"  # type: ignore[arg-type]


def _shipped_check(exercise: str, scenario: str, value: str) -> Any:
    from ipcgrader.loader import load_exercise
    from ipcgrader.plugins import get_plugin_manager

    spec = load_exercise(EXERCISES / exercise, get_plugin_manager()).spec
    found = next(s for s in spec.scenarios if s.id == scenario)
    return next(e for e in found.expect if getattr(e, "value", None) == value)


def _observed(observed: dict[str, Any], params: dict[str, Any]) -> RunRecord:
    return RunRecord(
        exercise_id="x",
        scenario_id="s",
        start_method="spawn",
        repeat=0,
        params=params,
        outcome=RunOutcome(returncode=0),
        files={"observed.json": json.dumps(observed).encode()},
    )


@pytest.mark.parametrize(
    ("exercise", "scenario", "value", "observed", "params", "said"),
    [
        (
            "mutex_print",
            "main-spawn",
            "pattern",
            {"pattern": "unjoined"},
            {},
            ("did not join every process", "没有 join 它启动的每一个进程"),
        ),
        (
            "mutex_print",
            "compete-spawn",
            "never_acquired",
            {"never_acquired": ["p1", "p2"]},
            {"names": ["p1", "p2"]},
            ("no worker ever acquired", "没有任何工作进程获取过"),
        ),
        (
            "bounded_queue",
            "drain",
            "received",
            {"received": [], "stop": "item", "taken": 1, "outcome": "returned",
             "exception": "", "has_none": False},
            {"count": 7},
            ("`if item:`", "`if item:`"),
        ),
    ],
)  # fmt: skip
def test_shipped_values_are_said_in_sentences(
    exercise: str,
    scenario: str,
    value: str,
    observed: dict[str, Any],
    params: dict[str, Any],
    said: tuple[str, str],
) -> None:
    """Item 4 (and 9): an observed value a student reads is a sentence of the exercise, in
    both languages, never "pattern is 'unjoined', expected 'concurrent'"."""
    for lang, words in zip(("en", "zh"), said, strict=True):
        with i18n.use_language(lang):
            check = _shipped_check(exercise, scenario, value)
            verdict = check.evaluate(_observed(observed, params))
        assert verdict.passed is False
        assert words in verdict.message, verdict.message
        assert f"{value} is" not in verdict.message and f"{value} 是" not in verdict.message


def test_an_unexplained_value_is_a_sentence_in_both_languages() -> None:
    check = JsonValue(kind="json_value", file="observed.json", value="pattern", expected="'x'")
    for lang, words in (("en", "should be"), ("zh", "应该是")):
        with i18n.use_language(lang):
            verdict = check.evaluate(_observed({"pattern": "y"}, {}))
        assert verdict.passed is False and words in verdict.message, verdict.message


def _lock_finding(message: str, file: str | None, line: int | None, check: str) -> Diagnostic:
    return Diagnostic(kind="lock_never_acquired", file=file, line=line, message=message,
                      checks=(check,))  # fmt: skip


def test_an_unused_lock_is_one_finding_with_a_place() -> None:
    """Item 9: the lock a driver hands over is said where it was needed; with the lock
    the student's own main() makes, the finding is said once, at the line that makes it."""
    given = _lock_finding(_(GIVEN_LOCK_NEVER_ACQUIRED), "t.py", 14, "a.no_race")
    assert given.file == "t.py"
    made = _lock_finding(
        _("the {kind} created here is never acquired: a lock protects nothing until a "
          "process holds it").format(kind="Lock"),
        "t.py", 30, "script.no_race",
    )  # fmt: skip
    race = Diagnostic(kind="race", file="t.py", line=19, message="raced")
    merged = merge_diagnostics([_with(given, race), _with(made)])
    assert [(d.kind, d.line) for d in merged] == [("race", 19), ("lock_never_acquired", 30)]
    assert merged[1].checks == ("script.no_race", "a.no_race")
    assert [(d.kind, d.line) for d in merge_diagnostics([_with(given, race)])] == [
        ("lock_never_acquired", 14),
        ("race", 19),
    ]


def _with(*found: Diagnostic) -> RunRecord:
    record = _observed({}, {})
    record.diagnostics = list(found)
    return record


def test_a_check_a_stop_kept_from_judging_says_so_and_claims_nothing() -> None:
    """Item 1: after a deadlock, "nobody buys a sold-out ticket" does not say "tickets were
    sold although none were left" nor hint at count > 0: it says it was not judged, and
    why."""
    from ipcgrader.loader import load_exercise
    from ipcgrader.plugins import get_plugin_manager
    from ipcgrader.scoring import check_ids, score_check

    spec = load_exercise(EXERCISES / "lock_ticket", get_plugin_manager()).spec
    ids = check_ids(spec)
    scenario, index, expectation = next(
        (s, i, e)
        for s in spec.scenarios
        for i, e in enumerate(s.expect)
        if e.message and "none were left" in str(e.message)
    )
    run = _observed({}, dict(scenario.params))
    run.outcome = RunOutcome(returncode=None, stopped="deadlock", reason="deadlock")
    for lang in ("en", "zh"):
        with i18n.use_language(lang):
            result = score_check(ids[(scenario.id, index)], scenario, expectation, [run])
            claim = str(expectation.message)
        assert result.status is Status.failed and result.score == 0
        assert claim not in result.message and result.hint is None
        assert ("not judged" if lang == "en" else "未评判") in result.message
        assert ("deadlock" if lang == "en" else "死锁") in result.message


# --- item 5: what a stopped run was doing, said as the trace shows it ----------------------


def test_a_main_that_keeps_starting_and_joining_is_a_loop_not_a_child_that_never_ends() -> None:
    from test_trace import Recorder

    from ipcgrader.trace import diagnose_hang

    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in range(2, 24):
        ev(1, "start", child=pid, line=19)
        ev(pid, "proc", role="forked")
        ev(pid, "run", name=f"p{pid}", target="task")
        ev(pid, "sleep", line=12)
        if pid < 23:
            ev(pid, "exit", code=0)
            ev(1, "join", child=pid, line=24)
            ev(1, "joined", child=pid, line=24)
    ev(1, "join", child=23, line=24)
    (found,) = [d for d in diagnose_hang(ev.trace()) if d.kind == "hang_restart_loop"]
    assert found.line == 19  # its start() line, whatever it was doing at the stop
    assert "kept starting new child processes here after joining the earlier ones" in found.message
    assert "never ends" not in found.message


def test_a_recv_under_fork_names_the_inherited_end() -> None:
    from test_trace import Recorder

    from ipcgrader.trace import diagnose_hang

    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "pipe_new", "P1.1", line=28, duplex=True)
    ev(1, "start", child=2, line=30)
    ev(2, "proc", role="forked")
    ev(2, "run", name="server", target="echo_server")
    ev(2, "recv", "P1.1", line=13, end=1)
    ev(1, "join", child=2, line=32)
    found = {d.kind: d for d in diagnose_hang(ev.trace(), deadlocked=True)}
    recv = found["hang_pipe_recv"]
    assert recv.line == 13 and "copy of the other end" in recv.message
    assert "line 28" in recv.message and recv.hint and "close()" in recv.hint
    join = found["hang_join"]
    assert "itself stuck in recv() at line 13" in join.message


def test_a_process_still_working_at_a_stop_is_not_guessed_to_loop() -> None:
    from test_trace import Recorder

    from ipcgrader.trace import diagnose_hang

    ev = Recorder()
    ev(1, "proc", role="main")
    ev(1, "start", child=2, line=30)
    ev(1, "start", child=3, line=30)
    ev(2, "proc", role="forked")
    ev(2, "run", name="a", target="task")
    ev(2, "read", "ticket.json", line=14, mode="r")
    ev(3, "proc", role="forked")
    ev(3, "run", name="b", target="task")
    for _round in range(25):
        ev(3, "poll", "Q1.1", line=22, method="empty", empty=True)
    found = {d.line: d for d in diagnose_hang(ev.trace()) if d.kind == "hang_running"}
    assert "never ends" not in found[14].message and "last step" in found[14].message
    assert "kept coming back to this line. A loop that never ends?" in found[22].message


def test_a_cpu_budget_stop_says_what_was_measured_and_guesses_nothing() -> None:
    """Item F: 100 buyers of a correct program used up the run's CPU budget: say how many
    processes used how much against which budget, not "a loop that never ends?"."""
    from ipcgrader.models import Limits

    run = _observed({}, {})
    run.outcome = RunOutcome(
        returncode=None,
        stopped="cpu_budget",
        reason="cpu_budget",
        run_cpu_s=0.634,
        peak_processes=101,
        limits=Limits(run_cpu_s=0.6),
    )
    with i18n.use_language("en"):
        said = run.problem()
    assert said == (
        "was stopped when its 101 processes had used 0.63 s of CPU time together, more than "
        "the 0.6 s this run may use"
    )
    with i18n.use_language("zh"):
        zh = run.problem()
    assert zh is not None and "101" in zh and "0.63" in zh and "0.6 " in zh


def test_a_childs_crash_read_from_stderr_and_from_the_trace_is_one_finding() -> None:
    stderr = Diagnostic(kind="uncaught_exception", file="p.py", line=10,
                        message="NameError was raised in a child process and not caught",
                        checks=("compete.no_exception",))  # fmt: skip
    trace = Diagnostic(kind="child_crashed", file="p.py", line=10, hint="run it once",
                       message="a child process raised NameError at line 10 and died",
                       checks=("compete.children_ok",))  # fmt: skip
    other = Diagnostic(kind="uncaught_exception", file="p.py", line=3, message="main raised")
    merged = merge_diagnostics([_with(stderr, trace, other)])
    assert [(d.kind, d.line) for d in merged] == [
        ("uncaught_exception", 10),
        ("uncaught_exception", 3),
    ]
    assert merged[0].checks == ("compete.no_exception", "compete.children_ok")
    assert merged[0].hint == "run it once"


def test_starting_many_processes_is_no_endless_loop() -> None:
    """Item F: a main that started 44 of 100 buyers at one line when the CPU budget ran out
    is not "a loop that never ends?"."""
    from test_trace import Recorder

    from ipcgrader.trace import diagnose_hang

    ev = Recorder()
    ev(1, "proc", role="main")
    for pid in range(2, 46):
        ev(1, "start", child=pid, line=42)
    (found,) = [d for d in diagnose_hang(ev.trace()) if d.line == 42]
    assert "never ends" not in found.message and "last step" in found.message
