"""What a student reads: each finding once, in words, in their language (issue 11's
feedback items). Unit tests on results, scoring and reporters: no grading is made here."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ipcgrader import i18n
from ipcgrader.i18n import render
from ipcgrader.reporters.terminal import TerminalReporter
from ipcgrader.results import CheckResult, Diagnostic, ExerciseResult, Status
from ipcgrader.scoring import scenario_words
from ipcgrader.session import _as_handed_in, _harness_message
from ipcgrader.tracebacks import escaped_exceptions


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
