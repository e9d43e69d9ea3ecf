"""Batch inputs: finding students, extracting zips safely, the hashes that decide reruns,
and the run gate that shares the machine between gradings."""

from __future__ import annotations

import re
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from ipcgrader.batch.executors import BatchStopped, RunGate
from ipcgrader.batch.inputs import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_FILES,
    ArchiveError,
    discover,
    extract_archive,
)
from ipcgrader.batch.planning import spec_hash, submission_hash
from ipcgrader.loader import load_exercise
from ipcgrader.plugins import get_plugin_manager

from conftest import EXERCISES, SOLUTIONS, SUBMISSIONS

SOLUTION = (SOLUTIONS / "lock_ticket" / "ticket.py").read_bytes()


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _loaded(folder: Path = EXERCISES / "lock_ticket"):  # type: ignore[no-untyped-def]
    return load_exercise(folder, get_plugin_manager(autoload=False))


def test_discover_finds_folders_and_zips_and_says_what_it_skipped(tmp_path: Path) -> None:
    (tmp_path / "bob").mkdir()
    (tmp_path / "alice").mkdir()
    _zip(tmp_path / "carol.zip", {"ticket.py": SOLUTION})
    _zip(tmp_path / "alice.zip", {"ticket.py": SOLUTION})  # same student as the folder
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "__MACOSX").mkdir()
    students, warnings = discover(tmp_path)
    assert [(s.student, s.source.name) for s in students] == [
        ("alice", "alice"),
        ("bob", "bob"),
        ("carol", "carol.zip"),
    ]
    assert students[2].is_archive and not students[0].is_archive
    assert len(warnings) == 2
    assert any("alice.zip" in w for w in warnings)
    assert any("notes.txt" in w for w in warnings)


def test_extract_unwraps_a_single_wrapper_folder(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"Alice Smith/ticket.py": SOLUTION, "__MACOSX/x": b""})
    folder = extract_archive(archive, _empty(tmp_path / "out"))
    assert (folder / "ticket.py").read_bytes() == SOLUTION
    assert not (tmp_path / "out" / "__MACOSX").exists()


def test_extract_keeps_a_folder_named_after_the_exercise(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"lock_ticket/ticket.py": SOLUTION})
    folder = extract_archive(archive, _empty(tmp_path / "out"), {"lock_ticket"})
    assert folder == tmp_path / "out"
    assert (folder / "lock_ticket" / "ticket.py").is_file()


def _empty(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.py", "outside"),
        ("sub/../../evil.py", "outside"),
        ("/tmp/evil.py", "absolute"),
        ("C:/evil.py", "absolute"),
        ("..\\evil.py", "outside"),
    ],
)
def test_extract_refuses_paths_that_leave_the_folder(
    tmp_path: Path, name: str, reason: str
) -> None:
    archive = _zip(tmp_path / "a.zip", {"ticket.py": SOLUTION, name: b"pwned"})
    target = _empty(tmp_path / "deep" / "out")
    with pytest.raises(ArchiveError, match=reason):
        extract_archive(archive, target)
    assert not list(tmp_path.rglob("evil.py"))


def test_extract_refuses_symlinks(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("ticket.py")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(ArchiveError, match="symbolic link"):
        extract_archive(archive, _empty(tmp_path / "out"))


def test_extract_stops_a_zip_bomb_at_the_cap(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"ticket.py": b"\0" * (MAX_ARCHIVE_BYTES + 1)})
    assert archive.stat().st_size < 1 << 20  # small on disk, big when extracted
    with pytest.raises(ArchiveError, match="more than"):
        extract_archive(archive, _empty(tmp_path / "out"))


def test_extract_refuses_too_many_files_and_broken_zips(tmp_path: Path) -> None:
    many = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(MAX_ARCHIVE_FILES + 1)})
    with pytest.raises(ArchiveError, match="files"):
        extract_archive(many, _empty(tmp_path / "o1"))
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(ArchiveError, match="not a readable zip"):
        extract_archive(broken, _empty(tmp_path / "o2"))


def test_submission_hash_covers_what_is_graded_and_nothing_else(tmp_path: Path) -> None:
    loaded = _loaded()
    top, nested = tmp_path / "top", tmp_path / "nested" / "lock_ticket"
    for folder in (top, nested):
        folder.mkdir(parents=True)
        (folder / "ticket.py").write_bytes(SOLUTION)
    first = submission_hash(loaded, top)
    assert submission_hash(loaded, tmp_path / "nested") == first  # same files, other layout
    (top / "notes.md").write_text("not copied into runs")
    assert submission_hash(loaded, top) == first
    (top / "helper.py").write_text("X = 1\n")  # copied beside ticket.py: can change a verdict
    with_helper = submission_hash(loaded, top)
    assert with_helper != first
    (top / "ticket.py").write_bytes(SOLUTION + b"\n# edited\n")
    assert submission_hash(loaded, top) not in (first, with_helper)
    empty = _empty(tmp_path / "empty")
    assert submission_hash(loaded, empty) == submission_hash(loaded, _empty(tmp_path / "e2"))


def test_spec_hash_follows_the_spec_and_the_options_not_the_docs(tmp_path: Path) -> None:
    copy = tmp_path / "lock_ticket"
    shutil.copytree(EXERCISES / "lock_ticket", copy)
    loaded = _loaded(copy)
    base = spec_hash(loaded, {"timeout": None})
    assert spec_hash(loaded, {"timeout": None}) == base
    assert spec_hash(loaded, {"timeout": 2.0}) != base
    (copy / "README.md").write_text("clarified wording\n")
    (copy / "ticket.py").write_text("# a new starter does not change verdicts\n")
    assert spec_hash(loaded, {"timeout": None}) == base
    spec = copy / "exercise.toml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(re.sub(r"^timeout = [0-9.]+", "timeout = 99.0", text, count=1, flags=re.M))
    assert spec_hash(loaded, {"timeout": None}) != base


def test_variants_hash_differently() -> None:
    loaded = _loaded()
    hashes = {
        submission_hash(loaded, SUBMISSIONS / "lock_ticket" / name)
        for name in ("correct_with_lock.py", "syntax_error.py", "infinite_loop.py")
    }
    assert len(hashes) == 3


def test_run_gate_is_first_come_first_served_and_stops() -> None:
    gate = RunGate(1)
    order: list[str] = []
    errors: list[str] = []

    def enter(name: str) -> None:
        try:
            with gate:
                order.append(name)
        except BatchStopped:
            errors.append(name)

    gate.__enter__()  # the only slot is taken
    threads = []
    for name in ("first", "second", "third"):
        thread = threading.Thread(target=enter, args=(name,))
        thread.start()
        threads.append(thread)
        expected = len(threads)
        _wait_for(lambda: len(gate._queue) == expected)  # noqa: B023 - used at once
    gate.__exit__(None, None, None)
    _wait_for(lambda: len(order) == 3)
    assert order == ["first", "second", "third"]

    gate.__enter__()
    late = threading.Thread(target=enter, args=("late",))
    late.start()
    _wait_for(lambda: len(gate._queue) == 1)
    gate.stop()
    late.join(timeout=10)
    for thread in threads:
        thread.join(timeout=10)
    assert errors == ["late"]
    with pytest.raises(BatchStopped):
        gate.__enter__()


def _wait_for(condition, limit: int = 2000) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``condition()`` holds (a bounded spin on a condition, not a timing test)."""
    event = threading.Event()
    for _ in range(limit):
        if condition():
            return
        event.wait(0.005)
    raise AssertionError("condition never became true")


def test_batch_takes_every_limit_option_of_a_single_grading() -> None:
    from ipcgrader.cli.batch import batch_parser
    from ipcgrader.cli.common import LIMIT_OPTIONS, limits_from_args

    argv = ["exercises/x", "--submissions", "s"]
    for option in LIMIT_OPTIONS:
        argv += [option, "7"]
    limits = limits_from_args(batch_parser().parse_args(argv))
    assert limits is not None
    assert all(getattr(limits, name) == 7 for name, _, _ in LIMIT_OPTIONS.values())
    with pytest.raises(SystemExit):
        batch_parser().parse_args([*argv[:3], "--processes", "0"])


def test_a_ctrl_c_inside_submit_still_stops_the_grading_it_started() -> None:
    """A Ctrl-C can land in ``executor.submit`` after the grading has started but before the
    runner holds its future: the runner must stop the executor all the same, or closing it
    would wait for the whole grading (a gated one: its full wall timeout)."""
    from concurrent.futures import Future

    from ipcgrader.batch.runner import _pump

    class Executor:
        in_flight = 1

        def __init__(self) -> None:
            self.started: list[Future[object]] = []
            self.closed = False

        def submit(self, job: object) -> Future[object]:
            self.started.append(Future())  # a grading that ends only when stopped
            raise KeyboardInterrupt  # the Ctrl-C, before the future is handed back

        def stop(self) -> None:
            for future in self.started:
                if not future.done():
                    future.set_result(None)

        def close(self) -> None:
            assert all(f.done() for f in self.started), "close() would wait for it"
            self.closed = True

    executor = Executor()
    with pytest.raises(KeyboardInterrupt):
        _pump(executor, ["job"], lambda job, graded: None)  # type: ignore[arg-type]
    assert executor.started and executor.closed
