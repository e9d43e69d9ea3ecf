"""How the grader reads the crash of a run's main process from its stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipcgrader.session import crash_from_stderr

LIB = "/usr/lib/python3.11/multiprocessing"


def _traceback(*frames: tuple[str, int], last: str, header: str = "") -> str:
    lines = [header] if header else []
    lines.append("Traceback (most recent call last):")
    for file, line in frames:
        lines += [f'  File "{file}", line {line}, in f', "    code()"]
    lines.append(last)
    return "\n".join(lines) + "\n"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "ticket.py").write_text("", encoding="utf-8")
    return tmp_path


def test_a_threading_lock_pickled_for_spawn_is_explained(work: Path) -> None:
    stderr = _traceback(
        (str(work / "ticket.py"), 41),
        (f"{LIB}/reduction.py", 60),
        last="TypeError: cannot pickle '_thread.lock' object",
    )
    error = crash_from_stderr(stderr, work)
    assert error is not None
    assert (error.kind, error.file, error.line) == ("thread_lock", "ticket.py", 41)
    assert "use multiprocessing.Lock()" in error.message


def test_a_lock_sent_through_a_queue_is_explained(work: Path) -> None:
    stderr = _traceback(
        (str(work / "ticket.py"), 12),
        (f"{LIB}/synchronize.py", 106),
        last="RuntimeError: Lock objects should only be shared between processes through "
        "inheritance",
    )
    error = crash_from_stderr(stderr, work)
    assert error is not None and error.kind == "lock_not_inherited"
    assert "as an argument of Process(...)" in error.message


def test_an_ordinary_exception_keeps_its_own_words(work: Path) -> None:
    stderr = _traceback((str(work / "ticket.py"), 9), last="KeyError: 'count'")
    error = crash_from_stderr(stderr, work)
    assert error is not None
    assert (error.kind, error.message, error.line) == ("exception", "raised KeyError: 'count'", 9)


def test_the_main_process_crash_wins_over_a_child_one_printed_later(work: Path) -> None:
    main = _traceback((str(work / "ticket.py"), 30), last="ValueError: main")
    child = _traceback(
        (str(work / "ticket.py"), 8), last="OSError: child", header="Process Process-1:"
    )
    error = crash_from_stderr(main + child, work)
    assert error is not None and (error.message, error.line) == ("raised ValueError: main", 30)


def test_frames_outside_the_students_files_do_not_locate_it(work: Path) -> None:
    stderr = _traceback(("/elsewhere/drivers/buy.py", 5), last="RuntimeError: driver")
    error = crash_from_stderr(stderr, work)
    assert error is not None and error.file is None and error.line is None


def test_no_traceback_is_no_crash(work: Path) -> None:
    assert crash_from_stderr("just some output\n", work) is None


def test_a_library_module_named_like_a_students_file_does_not_locate_it(work: Path) -> None:
    (work / "process.py").write_text("", encoding="utf-8")  # the student's own helper
    stderr = _traceback(
        (str(work / "ticket.py"), 41),
        (f"{LIB}/process.py", 121),
        last="ValueError: bad target",
    )
    error = crash_from_stderr(stderr, work)
    assert error is not None and (error.file, error.line) == ("ticket.py", 41)


def test_a_relative_frame_is_in_the_runs_folder(work: Path) -> None:
    stderr = _traceback(("ticket.py", 7), last="KeyError: 'count'")
    error = crash_from_stderr(stderr, work)
    assert error is not None and (error.file, error.line) == ("ticket.py", 7)


def test_a_missing_main_guard_is_named_not_shown_raw(work: Path) -> None:
    # multiprocessing's RuntimeError starts its message on the next line
    stderr = (
        _traceback(
            (str(work / "ticket.py"), 44),
            (f"{LIB}/spawn.py", 140),
            last="RuntimeError: ",
        )
        + "        An attempt has been made to start a new process before the\n"
        "        current process has finished its bootstrapping phase.\n"
    )
    error = crash_from_stderr(stderr, work)
    assert error is not None
    assert (error.kind, error.file, error.line) == ("no_main_guard", "ticket.py", 44)
    assert "if __name__ == '__main__':" in error.message


def test_spawn_only_failures_are_explained() -> None:
    from ipcgrader.tracebacks import pitfall_for

    lost = pitfall_for(
        "FileNotFoundError", "[Errno 2] No such file or directory", ("_main", "_rebuild")
    )
    assert lost is not None and lost.kind == "lost_before_start"
    # the same exception raised in the student's own code is theirs, not this mistake
    assert pitfall_for("FileNotFoundError", "No such file", student_frame=True) is None
    args = pitfall_for("TypeError", "task() missing 1 required positional argument: 'sec'")
    assert args is not None and args.kind == "wrong_args"
    assert pitfall_for("TypeError", "task() missing 1 required", student_frame=True) is None
    local = pitfall_for("AttributeError", "Can't pickle local object 'run_all.<locals>.<lambda>'")
    assert local is not None and local.kind == "not_picklable"
