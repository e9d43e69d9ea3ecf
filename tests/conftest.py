"""Shared test setup: paths, and a guard that no test leaves a process behind."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipcgrader.i18n import language, language_from_env, set_language
from ipcgrader.pytest_plugin import marked_processes

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
SOLUTIONS = ROOT / "solutions"
SUBMISSIONS = Path(__file__).resolve().parent / "submissions"
#: JUnit XSD, Gradescope results.json and Classroom schemas (see tests/data/schemas/README.md).
SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"

# Installed third-party plugins must not change what the tests see.
os.environ.setdefault("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", "1")
# Tests assert English messages unless they ask for another language with --lang or
# use_language(); a developer's zh_CN locale must not change what they see.
if language_from_env() != "en":
    os.environ["LC_ALL"] = "C.UTF-8"
# Tests that press Ctrl-C on a command they started (SIGINT to a batch) need it to act as at
# a terminal. A suite started in the background by a non-interactive shell (`cmd &`, nohup,
# some CI runners) inherits SIGINT ignored, and its commands would inherit that too: a
# Python started with SIGINT ignored never raises KeyboardInterrupt, so the batch would run
# on to its timeout. Python's own handler here becomes the default in every command started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _descendants() -> list[int]:
    me = os.getpid()
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != b"Z":
                parents[int(entry)] = int(fields[1])
    found, frontier = [], [me]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid:
                found.append(child)
                frontier.append(child)
    return found


@pytest.fixture(autouse=True)
def language_restored() -> Iterator[None]:
    """A test that runs the command in-process with ``--lang zh`` sets the process-wide
    language; the tests after it must still see the one they started with."""
    before = language()
    yield
    set_language(before)


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """Fail any test after which a process of a graded run (or a child of ours) is alive."""
    yield
    deadline = time.monotonic() + 2.0
    while True:
        left = sorted(set(marked_processes()) | set(_descendants()))
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"
