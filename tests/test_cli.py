"""The command line: the stable interface (exit codes, JSON shape) and the subcommands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ipcgrader.cli import main

from conftest import EXERCISES, SOLUTIONS, SUBMISSIONS

LOCK_TICKET = str(EXERCISES / "lock_ticket")


def test_solution_full_marks_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([LOCK_TICKET, "--submission", str(SOLUTIONS / "lock_ticket")]) == 0
    out = capsys.readouterr().out
    assert "PASSED" in out and "✗" not in out


def test_starter_fails_with_reasons_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([LOCK_TICKET, "--no-color"]) == 1
    out = capsys.readouterr().out
    assert "✗" in out
    assert "hint:" in out
    assert "FAILED" in out


def test_json_format_is_the_stable_object(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            LOCK_TICKET,
            "--submission",
            str(SUBMISSIONS / "lock_ticket" / "syntax_error.py"),
            "--format",
            "json",
        ]
    )
    assert code == 1
    data = json.loads(capsys.readouterr().out)
    assert {
        "exercise",
        "submission",
        "status",
        "score",
        "max_score",
        "duration_s",
        "checks",
        "diagnostics",
    } <= set(data)
    assert data["exercise"] == "lock_ticket"
    assert data["status"] == "failed"
    assert data["score"] == 0
    for check in data["checks"]:
        assert {"id", "name", "status", "score", "max_score", "message"} <= set(check)
        assert check["status"] == "failed"
        assert "SyntaxError" in check["message"]
    (diagnostic,) = data["diagnostics"]
    assert diagnostic["kind"] == "syntax_error"
    # findings name the file as handed in (syntax_error.py, graded as ticket.py)
    assert diagnostic["file"] == "syntax_error.py"
    assert diagnostic["line"] == 18


def test_missing_submission_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([LOCK_TICKET, "--submission", "/nonexistent/ticket.py"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_format_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([LOCK_TICKET, "--format", "yaml"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'yaml'" in err and "json" in err


def test_not_an_exercise_is_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path)]) == 2
    assert "exercise.toml" in capsys.readouterr().err


def test_bad_option_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([LOCK_TICKET, "--frobnicate"]) == 2


def test_schema_lists_every_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    text = json.dumps(schema)
    for kind in ("exit_code", "finishes", "stdout_count", "final_json"):
        assert f'"{kind}"' in text
    assert schema["additionalProperties"] is False


def test_list_shows_exercises(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", str(EXERCISES)]) == 0
    out = capsys.readouterr().out
    assert "lock_ticket" in out and "抢票系统" in out


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.json"
    code = main(
        [
            LOCK_TICKET,
            "--submission",
            str(SOLUTIONS / "lock_ticket"),
            "--format",
            "json",
            "--output",
            str(target),
        ]
    )
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["status"] == "passed"


def test_internal_error_is_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("grader bug")

    monkeypatch.setattr("ipcgrader.cli.grade.grade", broken)
    assert main([LOCK_TICKET, "--format", "json"]) == 3
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "error"
    assert "grader bug" in data["error"]


def test_python_dash_m_and_import_loads_no_plugin() -> None:
    code = (
        "import sys, ipcgrader.cli, pluggy\n"
        "assert not any(m.startswith('ipcgrader.checks') or m.startswith('ipcgrader.reporters')"
        " for m in sys.modules), 'importing the CLI loaded plugins'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ipcgrader",
            LOCK_TICKET,
            "--submission",
            str(SOLUTIONS / "lock_ticket"),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["score"] == json.loads(done.stdout)["max_score"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--timeout", "nan"], "--timeout: must be a number > 0 and ≤ 3600, not 'nan'"),
        (["--timeout", "inf"], "not 'inf'"),
        (["--timeout", "1e12"], "not '1e12'"),
        (["--timeout", "-1"], "not '-1'"),
        (["--timeout", "0"], "not '0'"),
        (["-j", "0"], "-j/--jobs: must be a whole number from 1 to 1024"),
        (["--memory-mb", "0"], "--memory-mb: must be a whole number > 0"),
    ],
)
def test_bad_option_values_are_one_error_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([LOCK_TICKET, *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ipcgrade: error: ") and err.count("\n") == 1, err
    assert says in err


def test_output_onto_a_folder_exits_2_before_grading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the README's CI line (`|| [ $? -eq 1 ]`) must not turn this into a green job
    assert main([LOCK_TICKET, "-o", str(tmp_path)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["batch", LOCK_TICKET, "--submissions", str(tmp_path), "--out", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_mistyped_subcommand_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lsit"]) == 2
    assert "did you mean 'ipcgrade list'?" in capsys.readouterr().err


def test_format_help_lists_the_formats(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "gradescope, json, junit, markdown, terminal" in out


@pytest.mark.parametrize("command", [[LOCK_TICKET], ["report", "result.json"]])
def test_an_unknown_format_names_the_formats(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*command, "--format", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ipcgrade: error:")
    assert "'nope'" in err[0] and "json" in err[0] and "junit" in err[0]


def test_the_command_leaves_the_collector_as_it_found_it() -> None:
    """Collections are held off while the command's modules import, never turned on for
    a process that had turned them off."""
    code = (
        "import gc\n"
        "import ipcgrader.cli as cli\n"
        "assert gc.isenabled()\n"
        "with cli._no_collection():\n"
        "    assert not gc.isenabled()\n"
        "assert gc.isenabled()\n"
        "gc.disable()\n"
        "with cli._no_collection():\n"
        "    pass\n"
        "assert not gc.isenabled()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
