"""exercise.toml validation: every mistake names the file, the field and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipcgrader.cli import main
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.plugins import get_plugin_manager

from conftest import EXERCISES

GOOD = """
id = "tiny"
title = "Tiny"
entry = ["prog.py"]

[[scenarios]]
id = "run"

  [[scenarios.expect]]
  kind = "exit_code"
"""


_STATE = 'kind = "final_state"\n  state = '


def _exercise(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "tiny"
    folder.mkdir(exist_ok=True)
    (folder / "exercise.toml").write_text(text, encoding="utf-8")
    (folder / "prog.py").write_text("print('hi')\n", encoding="utf-8")
    return folder


def _problems(folder: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_exercise(folder, get_plugin_manager(autoload=False))
    assert caught.value.path.name in {"exercise.toml", "plugin.py", folder.name}
    return caught.value.problems


def test_good_spec_loads(tmp_path: Path) -> None:
    loaded = load_exercise(_exercise(tmp_path, GOOD), get_plugin_manager(autoload=False))
    assert loaded.spec.id == "tiny"
    assert loaded.spec.max_score == 1.0
    assert loaded.spec.start_methods == ["fork"]


def test_lock_ticket_spec_loads() -> None:
    loaded = load_exercise(EXERCISES / "lock_ticket", get_plugin_manager(autoload=False))
    scenarios = {s.id: s for s in loaded.spec.scenarios}
    assert {"last-ticket", "three-tickets", "plenty", "sold-out", "script"} <= set(scenarios)
    assert scenarios["last-ticket"].params == {"tickets": 1, "buyers": 4}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('kind = "exit_code"', 'kind = "exit_code"\n  expectd = 1'),
            "scenarios[0] (id='run').expect[0].expectd: unknown field",
        ),
        (('kind = "exit_code"', 'kind = "exit_cod"'), "scenarios[0] (id='run').expect[0]"),
        (
            ('kind = "exit_code"', 'kind = "stdout_count"\n  pattern = "(("\n  expected = 1'),
            "not a valid regular expression",
        ),
        (('id = "run"', 'id = "run"\ndriver = "nope.py"'), "driver: 'nope.py' not found"),
        (('title = "Tiny"', 'title = "Tiny"\npoints = 5'), "expectations add up to 1"),
        (('id = "tiny"', 'id = "tiny'), "not valid TOML"),
        (('entry = ["prog.py"]', 'entry = ["src/prog.py"]'), "entry: Value error"),
        (('id = "run"', 'id = "run"\nstart_methods = ["thread"]'), "start_methods[0]"),
        (('id = "run"', 'id = "run"\ntimeout = -1'), "timeout: Input should be greater than 0"),
        # final_state: a kind of shared state, a key only where there are keys
        (
            ('kind = "exit_code"', 'kind = "final_state"\n  state = "Counter"\n  expected = 0'),
            "expect[0].state: Input should be 'Value', 'Array'",
        ),
        (
            (
                'kind = "exit_code"',
                'kind = "final_state"\n  state = "Value"\n  key = 0\n  expected = 1',
            ),
            "a Value has no key",
        ),
        (
            (
                'kind = "exit_code"',
                'kind = "final_state"\n  state = "Array"\n  key = "a"\n  expected = 1',
            ),
            "the key of an Array element is its index",
        ),
        (
            (
                'kind = "exit_code"',
                'kind = "final_state"\n  state = "Value"\n  expected = "sold + 1"',
            ),
            "sold",
        ),
    ],
)
def test_invalid_spec_names_field(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    folder = _exercise(tmp_path, GOOD.replace(*change, 1))
    problems = _problems(folder)
    assert any(expected in p for p in problems), problems


_EXPLAIN = """
  [[scenarios.expect]]
  kind = "json_value"
  file = "seen.json"
  value = "received"
  expected = [1, 2]

    [[scenarios.expect.explain]]
    when = "WHEN"
    message = "nothing arrived"
"""


def test_explain_when_may_use_and_or_not_checked_at_load(tmp_path: Path) -> None:
    """`and`, `or` and `not` are evaluated, so they load; their names are still checked."""
    good = GOOD + _EXPLAIN.replace("WHEN", "len(received) == 0 and not (stop or missing)")
    loaded = load_exercise(_exercise(tmp_path, good), get_plugin_manager(autoload=False))
    (json_value,) = [e for e in loaded.spec.scenarios[0].expect if e.kind == "json_value"]
    names = {"received": [], "stop": "", "missing": []}
    assert json_value._explanation(names) == "nothing arrived"
    assert json_value._explanation({**names, "stop": "empty"}) is None
    bad = GOOD + _EXPLAIN.replace("WHEN", "len(received) == 0 and __import__('os')")
    problems = _problems(_exercise(tmp_path, bad))
    assert any("explain[0].when" in p and "__import__()" in p for p in problems), problems


def test_duplicate_scenario_ids(tmp_path: Path) -> None:
    text = GOOD + '\n[[scenarios]]\nid = "run"\n'
    assert any("used twice" in p for p in _problems(_exercise(tmp_path, text)))


def test_missing_spec_file(tmp_path: Path) -> None:
    assert "file not found" in _problems(tmp_path)[0]


def test_cli_reports_invalid_spec_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _exercise(tmp_path, GOOD.replace('kind = "exit_code"', 'kind = "exit_code"\n  x = 1'))
    assert main([str(folder)]) == 2
    err = capsys.readouterr().err
    assert "exercise.toml" in err
    assert "expect[0].x: unknown field" in err
    assert "Traceback" not in err


def test_broken_exercise_plugin_is_a_spec_error(tmp_path: Path) -> None:
    folder = _exercise(tmp_path, GOOD)
    (folder / "plugin.py").write_text("raise RuntimeError('boom')\n", encoding="utf-8")
    problems = _problems(folder)
    assert "RuntimeError: boom" in problems[0]
