"""The chapter's exercises as a whole: listed with their titles (also one a plugin
provides), documented in both languages, and their starters graded without hanging."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ipcgrader.cli import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from conftest import EXERCISES

CHAPTER = [
    "bounded_queue", "join_order", "lock_ticket", "mutex_print", "pipe_echo", "shared_tickets",
]  # fmt: skip
NEW = ["bounded_queue", "join_order", "mutex_print", "pipe_echo", "shared_tickets"]


def _fake_plugin(root: Path) -> Path:
    """An installed distribution (dist-info on sys.path) whose `ipcgrader` entry point
    provides one exercise through the ipcgrader_add_exercises hook."""
    exercise = root / "exercises_from_plugin" / "plugin_demo"
    exercise.mkdir(parents=True)
    (exercise / "exercise.toml").write_text(
        textwrap.dedent(
            """\
            id = "plugin_demo"
            title = "插件练习: provided by a plugin"
            entry = ["demo.py"]

            [[scenarios]]
            id = "run"

              [[scenarios.expect]]
              kind = "exit_code"
            """
        ),
        encoding="utf-8",
    )
    (exercise / "demo.py").write_text("print('starter')\n", encoding="utf-8")
    (root / "ipcgrader_demo_exercises.py").write_text(
        textwrap.dedent(
            f"""\
            from ipcgrader import hookimpl

            @hookimpl
            def ipcgrader_add_exercises(exercises):
                exercises.add({str(exercise)!r})
            """
        ),
        encoding="utf-8",
    )
    dist = root / "ipcgrader_demo_exercises-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ipcgrader-demo-exercises\nVersion: 1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[ipcgrader]\ndemo = ipcgrader_demo_exercises\n", encoding="utf-8"
    )
    return exercise


def test_list_shows_every_exercise_with_its_title_and_plugin_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    provided = _fake_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert main(["list", str(EXERCISES)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert sorted(rows) == sorted([*CHAPTER, "plugin_demo"])
    for exercise in CHAPTER:
        spec = tomllib.loads((EXERCISES / exercise / "exercise.toml").read_text(encoding="utf-8"))
        # a title is one text or one per language (issue 12); the tests' language is English
        title = spec["title"] if isinstance(spec["title"], str) else spec["title"]["en"]
        assert title in rows[exercise]
        assert rows[exercise].endswith("folder)")
    assert "插件练习: provided by a plugin" in rows["plugin_demo"]
    assert f"({provided}, plugin)" in rows["plugin_demo"]


def test_without_plugins_the_plugin_exercise_is_not_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("IPCGRADER_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    assert main(["list", "--no-plugins", str(EXERCISES)]) == 0
    assert "plugin_demo" not in capsys.readouterr().out


@pytest.mark.parametrize("exercise", NEW)
def test_readme_in_chinese_and_english_names_every_function(exercise: str) -> None:
    readme = (EXERCISES / exercise / "README.md").read_text(encoding="utf-8")
    assert "## 中文" in readme and "## English" in readme
    sources = [p.read_text(encoding="utf-8") for p in (EXERCISES / exercise).glob("*.py")]
    functions = {name for text in sources for name in re.findall(r"^def (\w+)\(", text, re.M)}
    assert functions
    for function in functions:
        assert f"`{function}(" in readme, f"README does not explain {function}()"


@pytest.mark.parametrize("exercise", NEW)
def test_starter_fails_with_a_reason_for_every_lost_point(ipcgrade: Any, exercise: str) -> None:
    result = ipcgrade(EXERCISES / exercise, timeout=2.0)
    assert result.status.value == "failed"
    # a starter whose functions are all TODO earns nothing: a check scores only what
    # happened (which checks a starter may pass, and why: tests/test_what_happened.py)
    assert result.score < result.max_score
    for check in result.checks:
        if check.status.value != "passed":
            assert check.message, f"{check.id} fails without saying why"
