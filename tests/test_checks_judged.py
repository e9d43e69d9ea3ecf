"""json_value, spawn_safe and the trace kinds (locked_sections, pipe_ends) on hand-made
runs and traces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from ipcgrader.checks.ipc_trace import LockedSections, PipeEnds
from ipcgrader.checks.observed import JsonValue, fill
from ipcgrader.checks.ordering import NoInterleave
from ipcgrader.checks.portability import SpawnSafe, static_findings
from ipcgrader.results import RunOutcome, RunRecord
from ipcgrader.trace import TRACE_ARTIFACT, parse_trace


def run_with(
    observed: dict[str, Any] | None = None,
    returncode: int = 0,
    stopped: str | None = None,
    **extra: Any,
) -> RunRecord:
    files = extra.pop("files", {})
    if observed is not None:
        files["observed.json"] = json.dumps(observed).encode()
    return RunRecord(
        exercise_id="x",
        scenario_id="s",
        start_method="fork",
        repeat=0,
        params=extra.pop("params", {}),
        outcome=RunOutcome(returncode=returncode, stopped=stopped, stderr=extra.pop("stderr", "")),
        files=files,
        timeout_s=2.0,
        **extra,
    )


def value(**fields: Any) -> JsonValue:
    return JsonValue(kind="json_value", file="observed.json", **fields)


# --- json_value -------------------------------------------------------------------------


def test_json_value_compares_an_expression_of_observations_and_params() -> None:
    check = value(value="received", expected="range(count)")
    assert check.evaluate(run_with({"received": [0, 1, 2]}, params={"count": 3})).passed is True
    verdict = check.evaluate(run_with({"received": [0]}, params={"count": 3}))
    assert verdict.passed is False
    assert verdict.message == (
        "what the grader observed of your code (received) was [0], but it should be [0, 1, 2]"
    )


@pytest.mark.parametrize(
    ("compare", "expected", "actual", "ok"),
    [
        ("le", 20, 3, True),
        ("le", 20, 40347, False),
        ("gt", 1, 1, False),
        ("ne", "'x'", "y", True),
        ("between", ["longest", "2 * longest"], 0.5, True),
        ("between", ["longest", "2 * longest"], 0.1, False),
    ],
)
def test_json_value_comparisons(compare: str, expected: Any, actual: float, ok: bool) -> None:
    check = value(value="v", compare=compare, expected=expected)
    assert check.evaluate(run_with({"v": actual, "longest": 0.3})).passed is ok


def test_approx_uses_the_tolerance() -> None:
    check = value(value="v", compare="approx", expected=1.0, tolerance="0.1")
    assert check.evaluate(run_with({"v": 1.05})).passed is True
    assert "± 0.1" in check.evaluate(run_with({"v": 1.5})).message


def test_between_needs_a_pair() -> None:
    with pytest.raises(ValidationError, match="low, high"):
        value(value="v", compare="between", expected=1)


def test_the_first_matching_explanation_replaces_the_detail() -> None:
    check = value(
        value="received",
        expected="range(count)",
        explain=[
            {"when": "missing_key", "message": "never shown"},
            {"when": "stop == 'empty'", "message": "stopped after {taken} of {count} items"},
        ],
    )
    verdict = check.evaluate(
        run_with({"received": [], "stop": "empty", "taken": 0}, params={"count": 7})
    )
    assert verdict.message == "stopped after 0 of 7 items"


def test_literal_strings_and_fill() -> None:
    check = value(value="pattern", expected="concurrent", literal=True)
    assert check.evaluate(run_with({"pattern": "concurrent"})).passed is True
    assert fill("{a} and {b} and {unknown}", {"a": "x", "b": [1]}) == "x and [1] and {unknown}"


def test_incomplete_runs_fail_unless_observations_are_judged() -> None:
    observed = {"deadlock": True, "gets": 0}
    strict = value(value="deadlock", expected=False)
    verdict = strict.evaluate(run_with(observed, returncode=1))
    assert verdict.message == "not judged: the program exited with status 1"
    assert verdict.passed is False and verdict.stopped
    lenient = value(
        value="deadlock",
        expected=False,
        judge_incomplete=True,
        explain=[{"when": "gets == 0", "message": "joined before draining"}],
    )
    assert lenient.evaluate(run_with(observed, returncode=1)).message == "joined before draining"
    # a key written only at the end is missing after a timeout: the problem is the message
    hung = lenient.evaluate(run_with({"gets": 3}, stopped="timeout", returncode=None))
    assert hung.passed is False and "did not finish" in hung.message


def test_no_observations_is_could_not_check() -> None:
    verdict = value(value="v").evaluate(run_with(None))
    assert verdict.passed is None and "observed.json" in verdict.message


# --- spawn_safe -------------------------------------------------------------------------

GLOBAL_LOCK = """\
from multiprocessing import Process, Lock
mutex = Lock()

def task(name, lock):
    with mutex:
        print(name)

def main():
    ps = [Process(target=task, args=(n, mutex)) for n in 'ab']
    for p in ps: p.start()

if __name__ == '__main__':
    main()
"""


def test_a_module_level_lock_used_in_a_child_is_fork_only() -> None:
    [finding] = static_findings("printer.py", GLOBAL_LOCK)
    assert finding.line == 5
    assert "global `mutex`" in finding.message and "(printer.py, line 2)" in finding.message


def test_process_creation_at_import_is_fork_only() -> None:
    source = GLOBAL_LOCK.replace("if __name__ == '__main__':\n    main()", "main()")
    lines = [f.line for f in static_findings("printer.py", source)]
    assert lines == [5, 12]  # the global lock, and main() called at import


def test_names_bound_only_under_the_guard_are_fork_only() -> None:
    source = """\
from multiprocessing import Process, Queue

def producer(items):
    for item in items:
        q.put(item)

if __name__ == '__main__':
    q = Queue(3)
    Process(target=producer, args=([1],)).start()
"""
    [finding] = static_findings("drain.py", source)
    assert "only set under" in finding.message and finding.line == 5


def test_passed_objects_guarded_main_and_pool_initializers_are_fine() -> None:
    solution = GLOBAL_LOCK.replace("with mutex:", "with lock:").replace("mutex = Lock()\n", "")
    solution = solution.replace("args=(n, mutex)", "args=(n, Lock())")
    # joined before main() returns: under spawn an unjoined maker frees the Lock too early
    solution = solution.replace(
        "for p in ps: p.start()", "for p in ps: p.start()\n    ps[0].join()"
    )
    assert static_findings("printer.py", solution) == []
    initializer = """\
lock = None
def init(l):
    global lock
    lock = l
def work(x):
    with lock:
        return x
"""
    assert static_findings("w.py", initializer) == []
    assert static_findings("broken.py", "def (:\n") == []


def test_spawn_safe_reads_collected_files_and_explains_why() -> None:
    check = SpawnSafe(kind="spawn_safe", files=["printer.py"])
    verdict = check.evaluate(run_with(files={"printer.py": GLOBAL_LOCK.encode()}))
    assert verdict.passed is False
    assert [(d.kind, d.line) for d in verdict.diagnostics] == [("fork_only", 5)]
    # why it matters is the finding's hint (said once, with the finding)
    assert "Python 3.14" in (verdict.diagnostics[0].hint or "")
    assert check.evaluate(run_with(files={})).passed is None
    bootstrapping = run_with(
        files={"printer.py": b"x = 1\n"},
        stderr="RuntimeError: ... before the current process has finished its bootstrapping phase",
    )
    assert check.evaluate(bootstrapping).passed is False
    # what a spawn run actually died of counts too (the source can look fine)
    from ipcgrader.results import StudentError

    lambda_died = run_with(
        files={"printer.py": b"x = 1\n"},
        student_error=StudentError(kind="not_picklable", message="raised AttributeError"),
    )
    assert check.evaluate(lambda_died).passed is False


# --- trace kinds ------------------------------------------------------------------------


def traced(events: list[dict[str, Any]]) -> RunRecord:
    seqs: dict[int, int] = {}
    lines = []
    for t, event in enumerate(events):
        pid = event["pid"]
        seqs[pid] = seqs.get(pid, -1) + 1
        lines.append(json.dumps({"ppid": 1, "t": float(t), "seq": seqs[pid], **event}))
    run = run_with(None)
    run.artifacts[TRACE_ARTIFACT] = parse_trace(lines)
    return run


def worker(pid: int, lock: str, body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"pid": pid, "kind": "proc", "role": "forked"},
        {"pid": pid, "kind": "run", "name": f"p{pid}", "target": "task"},
        *({"pid": pid, "obj": e.get("obj", lock), **e} for e in body),
        {"pid": pid, "kind": "exit", "code": 0},
    ]


def section(lock: str, release_between: bool = False) -> list[dict[str, Any]]:
    held = [{"kind": "acquire", "file": "printer.py", "line": 9}]
    held.append({"kind": "acquired", "ok": True, "file": "printer.py", "line": 9})
    start = {"kind": "out", "obj": None, "text": "p开始打印了", "file": "printer.py", "line": 10}
    end = {"kind": "out", "obj": None, "text": "p打印结束了", "file": "printer.py", "line": 12}
    release = {"kind": "release", "file": "printer.py", "line": 9}
    if release_between:
        return [*held, start, release, end]
    return [*held, start, end, release]


def program(*workers: list[dict[str, Any]], locks: tuple[str, ...] = ("L1.1",)) -> RunRecord:
    main = [{"pid": 1, "kind": "proc", "role": "main"}]
    main += [{"pid": 1, "kind": "lock_new", "obj": tag, "lock": "Lock", "file": "printer.py",
              "line": 17} for tag in locks]  # fmt: skip
    tail = [{"pid": 1, "kind": "exit", "code": None}]
    return traced([*main, *(e for w in workers for e in w), *tail])


def sections() -> LockedSections:
    return LockedSections(kind="locked_sections", start="开始打印了", end="打印结束了")


def test_locked_sections_pass_with_one_shared_lock() -> None:
    run = program(worker(2, "L1.1", section("L1.1")), worker(3, "L1.1", section("L1.1")))
    assert sections().evaluate(run).passed is True


def test_a_release_between_the_lines_is_named() -> None:
    run = program(worker(2, "L1.1", section("L1.1", release_between=True)))
    verdict = sections().evaluate(run)
    assert verdict.passed is False
    assert verdict.diagnostics[0].kind == "lock_released_early"
    assert "when that `with` block ends, before printer.py:12" in verdict.message


def test_printing_without_a_lock_and_with_private_locks() -> None:
    bare = [e for e in section("L1.1") if e["kind"] == "out"]
    verdict = sections().evaluate(program(worker(2, "L1.1", bare)))
    assert verdict.diagnostics[0].kind == "unlocked_output"
    private = program(
        worker(2, "L2.1", section("L2.1")), worker(3, "L3.1", section("L3.1")),
        locks=("L2.1", "L3.1"),
    )  # fmt: skip
    assert sections().evaluate(private).diagnostics[0].kind == "private_lock"


def test_no_trace_is_could_not_check() -> None:
    assert sections().evaluate(run_with(None)).passed is None


def pipe_use(pid: int, kind: str, end: int, line: int) -> dict[str, Any]:
    return {"pid": pid, "kind": kind, "obj": "P1.1", "end": end, "file": "echo.py", "line": line}


def pipe_program(*uses: dict[str, Any]) -> RunRecord:
    main = [
        {"pid": 1, "kind": "proc", "role": "main"},
        {"pid": 1, "kind": "pipe_new", "obj": "P1.1", "file": "echo.py", "line": 20},
    ]
    child = [
        {"pid": 2, "kind": "proc", "role": "forked"},
        {"pid": 2, "kind": "run", "name": "Process-1", "target": "echo_server"},
    ]
    ends = [{"pid": 2, "kind": "exit", "code": 0}, {"pid": 1, "kind": "exit", "code": None}]
    return traced([*main, *child, *uses, *ends])


def test_each_process_on_its_own_end_passes() -> None:
    run = pipe_program(pipe_use(1, "send", 0, 24), pipe_use(2, "recv", 1, 7))
    assert PipeEnds(kind="pipe_ends").evaluate(run).passed is True


def test_two_processes_on_one_end_are_named_main_first() -> None:
    run = pipe_program(pipe_use(2, "recv", 0, 7), pipe_use(1, "send", 0, 24))
    verdict = PipeEnds(kind="pipe_ends").evaluate(run)
    assert verdict.passed is False
    assert "the main process calls send() at echo.py:24" in verdict.message
    assert "echo_server() calls recv() at echo.py:7" in verdict.message
    assert "made at echo.py:20" in verdict.message


def two_workers(serialised: bool, locked: bool) -> RunRecord:
    body = section("L1.1") if locked else [e for e in section("L1.1") if e["kind"] == "out"]
    main = [
        {"pid": 1, "kind": "proc", "role": "main"},
        {"pid": 1, "kind": "lock_new", "obj": "L1.1", "lock": "Lock"},
    ]
    start = [{"pid": 1, "kind": "start", "child": pid} for pid in (2, 3)]
    joined = [{"pid": 1, "kind": "joined", "child": pid, "exitcode": 0} for pid in (2, 3)]
    if serialised:  # start 2, join 2, start 3, join 3
        events = [*main, start[0], *worker(2, "L1.1", body), joined[0]]
        events += [start[1], *worker(3, "L1.1", body), joined[1]]
    else:
        events = [*main, *start, *worker(2, "L1.1", body), *worker(3, "L1.1", body), *joined]
    run = traced([*events, {"pid": 1, "kind": "exit", "code": None}])
    run.outcome.stdout = "p开始打印了\np打印结束了\np开始打印了\np打印结束了\n"
    return run


def test_clean_output_still_fails_when_sections_could_interleave() -> None:
    check = NoInterleave(kind="no_interleave", start="开始打印了", end="打印结束了")
    verdict = check.evaluate(two_workers(serialised=False, locked=False))
    assert verdict.passed is False
    assert verdict.message.startswith("no lines interleaved in this run, but they can")
    assert verdict.diagnostics[0].kind == "unlocked_output"


def test_sections_ordered_by_join_or_covered_by_one_lock_cannot_interleave() -> None:
    check = NoInterleave(kind="no_interleave", start="开始打印了", end="打印结束了")
    assert check.evaluate(two_workers(serialised=True, locked=False)).passed is True
    assert check.evaluate(two_workers(serialised=False, locked=True)).passed is True


def test_spawn_safe_sees_what_fails_under_spawn() -> None:
    lambda_target = """\
from multiprocessing import Process

def run(names):
    ps = [Process(target=lambda n=n: print(n)) for n in names]
    for p in ps: p.start()
    for p in ps: p.join()
"""
    [finding] = static_findings("joins.py", lambda_target)
    assert finding.line == 4 and "a lambda" in finding.message
    unjoined = GLOBAL_LOCK.replace("args=(n, mutex)", "args=(n, Lock())")
    [finding] = static_findings("printer.py", unjoined.replace("mutex = Lock()\n", ""))
    assert "returns without joining" in finding.message
