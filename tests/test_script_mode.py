"""Script mode describes programs the author did not write (tests/script_mode/): the
scenario's parameters reach the program as argv and environment, expectations use what the
run observed (``processes``), final_json compares with ranges, line_order takes last
occurrences, and children_ok allows the exit status buyers end with by design. The
exercise passes its own self-test: the solution gets full marks, each variant its
declared verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main
from ipcgrader.results import Status

HERE = Path(__file__).resolve().parent / "script_mode"
EXERCISE = HERE / "ticket_script"


def test_the_script_mode_exercise_passes_its_self_test(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["check", str(EXERCISE), "--solution", str(HERE / "solution")]
    assert main([*argv, "--variants", str(HERE / "variants")]) == 0, capsys.readouterr().out


def test_parameters_reach_the_program_and_facts_reach_the_checks(
    ipcgrade: Any, tmp_path: Path
) -> None:
    # a program that prints what it was given: argv and the environment the spec declared
    (tmp_path / "ticket.py").write_text(
        "import os, sys\nprint(' '.join(sys.argv[1:]), os.environ.get('TICKET_FILE'))\n",
        encoding="utf-8",
    )
    result = ipcgrade(EXERCISE, tmp_path)
    # it started no buyer: processes = 0, so "one line per buyer it started" (none) and
    # "ticket.json ends at tickets - purchases" (1) hold; selling min(1, 0) = 0 tickets too
    by_id = {c.id: c for c in result.checks}
    assert by_id["last-ticket.output_count"].status is Status.passed
    assert by_id["last-ticket.output_count.2"].status is Status.passed
    assert by_id["last-ticket.final_json.2"].status is Status.passed
    assert by_id["last-ticket.concurrent"].status is Status.failed


def test_argv_and_env_are_substituted(ipcgrade: Any, tmp_path: Path) -> None:
    (tmp_path / "ticket.py").write_text(
        "import os, sys\n"
        "assert sys.argv[1:] == ['--buyers', '4'], sys.argv\n"
        "assert os.environ['TICKET_FILE'] == 'ticket.json'\n"
        "import json\n"
        "assert json.load(open('ticket.json')) == {'count': 1}  # a typed table fixture\n",
        encoding="utf-8",
    )
    result = ipcgrade(EXERCISE, tmp_path)
    by_id = {c.id: c for c in result.checks}
    assert by_id["last-ticket.exit_code"].status is Status.passed, by_id["last-ticket.exit_code"]
