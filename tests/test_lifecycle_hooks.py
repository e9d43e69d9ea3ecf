"""The grading lifecycle hooks are called in order with the objects they document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ipcgrader import hookimpl
from ipcgrader.plugins import ExerciseRegistry, get_plugin_manager, plugin_exercises

SPEC = """
id = "env"
title = "Environment"
entry = ["prog.py"]

[[scenarios]]
id = "run"
fixtures = {{ "data.txt" = "x" }}

  [[scenarios.expect]]
  kind = "stdout_count"
  pattern = "^{value}$"
  expected = 1
"""


class Recorder:
    """Injects an environment variable and records every lifecycle call."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.meta_dirs: list[Path] = []

    @hookimpl
    def ipcgrader_exercise_loaded(self, exercise: Any, exercise_dir: Path) -> None:
        self.calls.append(f"loaded:{exercise.id}")

    @hookimpl
    def ipcgrader_configure_run(
        self, exercise: Any, scenario: Any, request: Any, meta_dir: Path
    ) -> None:
        request.env["INJECTED"] = "from-plugin"
        self.meta_dirs.append(meta_dir)
        self.calls.append("configure")

    @hookimpl
    def ipcgrader_run_finished(
        self, exercise: Any, scenario: Any, record: Any, meta_dir: Path
    ) -> None:
        assert meta_dir.is_dir()  # still there: plugins read artefacts here
        record.artifacts["seen"] = True
        self.calls.append(f"finished:{record.outcome.returncode}:{record.files['data.txt']!r}")

    @hookimpl
    def ipcgrader_grading_finished(self, exercise: Any, result: Any) -> None:
        self.calls.append(f"graded:{result.status.value}")


def test_lifecycle(ipcgrade: Any, tmp_path: Path) -> None:
    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "exercise.toml").write_text(SPEC.format(value="from-plugin"), encoding="utf-8")
    (folder / "prog.py").write_text(
        "import os\nprint(os.environ.get('INJECTED'))\nprint(open('data.txt').read() == 'x')\n",
        encoding="utf-8",
    )
    recorder = Recorder()
    result = ipcgrade(folder, plugins=(recorder,))
    assert result.status.value == "passed", result.checks
    assert recorder.calls == ["loaded:env", "configure", "finished:0:b'x'", "graded:passed"]
    assert not recorder.meta_dirs[0].exists()  # the run's folders are gone afterwards


def test_plugins_provide_exercises(tmp_path: Path) -> None:
    folder = tmp_path / "provided"
    folder.mkdir()
    (folder / "exercise.toml").write_text(SPEC.format(value="x"), encoding="utf-8")

    class Provider:
        @hookimpl
        def ipcgrader_add_exercises(self, exercises: ExerciseRegistry) -> None:
            exercises.add(folder)

    assert plugin_exercises(get_plugin_manager(autoload=False, plugins=[Provider()])) == [folder]
