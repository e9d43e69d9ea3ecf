"""A check scores only what happened (issue 11, item 4).

Every shipped exercise is graded with its starter file and with a do-nothing submission
(the starter's functions, each reduced to ``pass``; a main block that does nothing). The
tables below list, for each, the checks that may pass and why: the behaviour the check
judges really happened in that run. Any other check passing means a check gave points for
something that never happened.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from conftest import EXERCISES

#: exercise -> check id -> why it may pass on the starter file
STARTER_PASSES: dict[str, dict[str, str]] = {
    "lock_ticket": {
        "last-ticket.final_json": "the racy buyers all write count=0 back: the value is right "
        "(the race is judged by no_race and atomic_update)",
        "last-ticket.stdout_count.2": "every buyer runs search() and prints its line",
        "last-ticket.finishes": "the buyers do their work and end",
        "last-ticket.children_ok": "the buyers run task() and end normally",
        "three-tickets.finishes": "the buyers do their work and end",
        "plenty.stdout_count": "with more tickets than buyers nobody is short",
        "plenty.finishes": "the buyers do their work and end",
        "sold-out.stdout_count": "paid() checks count > 0: nobody buys a sold-out ticket",
        "sold-out.final_json": "paid() writes nothing when no ticket is left",
        "sold-out.finishes": "the buyers search and end",
        "script.exit_code": "the main block starts six buyers and exits cleanly",
        "script.concurrent": "all six buyers are started before any is joined",
        "script.children_ok": "the buyers end normally",
        "script.children_joined": "the main block joins every buyer",
    },
    "join_order": {},
    "bounded_queue": {},
    "mutex_print": {
        "compete.no_exception": "task() prints its two lines without an exception",
        "compete-spawn.output_count": "task() prints its end line (only the lock is missing)",
    },
    "pipe_echo": {},
    "shared_tickets": {
        "memory.children_ok": "the buyers run buy() and end normally",
        "memory.finishes": "the buyers do their work and end",
        "manager.children_ok": "the buyers run buy() and end normally",
        "manager.finishes": "the buyers do their work and end",
        "sold-out.stdout_count": "buy() checks left[train] > 0: nobody buys a sold-out ticket",
        "sold-out.final_state": "buy() writes nothing when no ticket is left",
        "script.exit_code": "the main block starts six buyers and exits cleanly",
        "script.children_ok": "the buyers end normally",
        "script.children_joined": "the main block joins every buyer",
    },
}

#: exercise -> check id -> why it may pass on a do-nothing submission: none may.
DO_NOTHING_PASSES: dict[str, dict[str, str]] = {name: {} for name in STARTER_PASSES}


def do_nothing(source: str) -> str:
    """The starter's imports and functions, every body ``pass``, an empty main block."""
    parts = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts.append(ast.unparse(node))
        elif isinstance(node, ast.FunctionDef):
            parts.append(f"def {node.name}({ast.unparse(node.args)}):\n    pass")
    parts.append("if __name__ == '__main__':\n    pass")
    return "\n\n".join(parts) + "\n"


def _exercises() -> list[str]:
    return sorted(p.parent.name for p in EXERCISES.glob("*/exercise.toml"))


def test_every_exercise_is_listed() -> None:
    assert sorted(STARTER_PASSES) == _exercises()


def _passing(result: Any) -> set[str]:
    return {c.id for c in result.checks if c.status.value == "passed"}


@pytest.mark.parametrize("exercise", _exercises())
def test_starter_and_do_nothing_pass_only_what_happened(
    ipcgrade: Any, tmp_path: Path, exercise: str
) -> None:
    folder = EXERCISES / exercise
    starter = ipcgrade(folder)
    assert _passing(starter) == set(STARTER_PASSES[exercise]), {
        c.id: c.message for c in starter.checks
    }
    (entry,) = [p for p in folder.glob("*.py")]
    (tmp_path / entry.name).write_text(do_nothing(entry.read_text(encoding="utf-8")))
    nothing = ipcgrade(folder, tmp_path / entry.name)
    assert _passing(nothing) == set(DO_NOTHING_PASSES[exercise])
    # each failure says why: a check that needed something to happen says what did not
    for check in nothing.checks:
        assert check.message, f"{check.id} failed without a reason"
