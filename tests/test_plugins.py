"""The plugin system: external kinds, exercise-local plugins, registration rules, docs."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar, Literal

import pluggy
import pytest

from ipcgrader import hookimpl, hookspecs
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.models import Expectation
from ipcgrader.plugins import (
    BUILTIN_PLUGINS,
    DEFERRED_KINDS,
    DEFERRED_REPORTERS,
    KindRegistry,
    PluginError,
    ReporterRegistry,
    expectation_kinds,
    get_plugin_manager,
    reporters,
)
from ipcgrader.results import RunRecord, Verdict

ROOT = Path(__file__).resolve().parents[1]

SPEC = """
id = "words"
title = "Words"
entry = ["prog.py"]

[[scenarios]]
id = "run"

  [[scenarios.expect]]
  kind = "word_count"
  words = {words}
  points = 2
"""


class WordCount(Expectation):
    """A third-party kind: stdout has exactly ``words`` words."""

    kind: Literal["word_count"]
    words: int
    default_name: ClassVar[str] = "word count"

    def evaluate(self, run: RunRecord) -> Verdict:
        count = len(run.outcome.stdout.split())
        if count == self.words:
            return Verdict(True)
        return Verdict(False, f"printed {count} words, expected {self.words}")


class WordPlugin:
    """An external plugin, registered like an entry-point one."""

    @hookimpl
    def ipcgrader_add_expectation_kinds(self, kinds: KindRegistry) -> None:
        kinds.add(WordCount)


def _exercise(tmp_path: Path, words: int) -> Path:
    folder = tmp_path / "words"
    folder.mkdir()
    (folder / "exercise.toml").write_text(SPEC.format(words=words), encoding="utf-8")
    (folder / "prog.py").write_text("print('one two three')\n", encoding="utf-8")
    return folder


def test_unknown_kind_is_a_spec_error_without_the_plugin(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_exercise(_exercise(tmp_path, 3), get_plugin_manager(autoload=False))
    assert "word_count" in str(caught.value)


@pytest.mark.parametrize(("words", "status"), [(3, "passed"), (4, "failed")])
def test_external_plugin_adds_a_kind(
    ipcgrade: Any, tmp_path: Path, words: int, status: str
) -> None:
    result = ipcgrade(_exercise(tmp_path, words), plugins=(WordPlugin(),))
    assert result.status.value == status
    assert result.checks[0].kind == "word_count"
    assert result.max_score == 2
    if status == "failed":
        assert result.checks[0].message == "printed 3 words, expected 4"


def test_exercise_folder_plugin_is_loaded_for_that_exercise(ipcgrade: Any, tmp_path: Path) -> None:
    folder = _exercise(tmp_path, 3)
    source = inspect.getsource(WordCount)
    (folder / "plugin.py").write_text(
        "from typing import ClassVar, Literal\n"
        "from ipcgrader import hookimpl\n"
        "from ipcgrader.models import Expectation\n"
        "from ipcgrader.results import RunRecord, Verdict\n\n"
        f"{source}\n\n"
        "@hookimpl\n"
        "def ipcgrader_add_expectation_kinds(kinds):\n"
        "    kinds.add(WordCount)\n",
        encoding="utf-8",
    )
    result = ipcgrade(folder)
    assert result.status.value == "passed"
    # another manager that never loaded this exercise does not know the kind
    assert "word_count" not in expectation_kinds(get_plugin_manager(autoload=False)).names()


def test_duplicate_kind_names_both_plugins() -> None:
    class Clash(Expectation):
        kind: Literal["exit_code"]

    class ClashPlugin:
        @hookimpl
        def ipcgrader_add_expectation_kinds(self, kinds: KindRegistry) -> None:
            kinds.add(Clash)

    pm = get_plugin_manager(autoload=False, plugins=[ClashPlugin()])
    with pytest.raises(PluginError) as caught:
        expectation_kinds(pm)
    message = str(caught.value)
    assert "'exit_code'" in message
    assert "ipcgrader.checks.outcome.ExitCode" in message
    assert "Clash" in message


def test_kind_must_be_a_single_literal() -> None:
    class Loose(Expectation):
        kind: str = "loose"

    with pytest.raises(PluginError, match="Literal"):
        KindRegistry().add(Loose)


def test_misspelled_hook_is_an_error() -> None:
    class Typo:
        @hookimpl
        def ipcgrader_add_expectation_kind(self, kinds: KindRegistry) -> None:  # no "s"
            raise AssertionError("never called")

    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(autoload=False, plugins=[Typo()])


def test_builtins_can_be_blocked_and_replaced() -> None:
    pm = get_plugin_manager(autoload=False)
    assert set(BUILTIN_PLUGINS) <= {name for name, _ in pm.list_name_plugin()}
    pm.unregister(name="ipcgrader.reporters.terminal")

    class Plain:
        name = "terminal"
        description = "replacement"

        def render(self, result: Any) -> str:
            return "replaced"

    class Replacement:
        @hookimpl
        def ipcgrader_add_reporters(self, reporters: Any) -> None:
            reporters.add(Plain())

    pm.register(Replacement())
    terminal = reporters(pm).get("terminal")
    assert terminal is not None and terminal.description == "replacement"


@pytest.mark.parametrize(
    ("table", "registry", "hook"),
    [
        (DEFERRED_KINDS, KindRegistry, "ipcgrader_add_expectation_kinds"),
        (DEFERRED_REPORTERS, ReporterRegistry, "ipcgrader_add_reporters"),
    ],
)
def test_a_deferred_builtin_adds_what_its_stand_in_says(
    table: dict[str, tuple[str, ...]], registry: Any, hook: str
) -> None:
    """The stand-in of a deferred builtin names what its module adds, in its order, and the
    module has no other hook (one the stand-in would lose)."""
    for module_name, names in table.items():
        assert module_name in BUILTIN_PLUGINS
        module = importlib.import_module(module_name)
        hooks = {name for name in vars(module) if name.startswith("ipcgrader_")}
        assert hooks == {hook}, module_name
        filled = registry()
        getattr(module, hook)(filled)
        assert list(next(iter(vars(filled).values()))) == list(names), module_name


def test_a_grading_imports_only_the_checks_and_reporter_it_uses() -> None:
    code = (
        "import sys\n"
        "from ipcgrader.loader import load_exercise\n"
        "from ipcgrader.plugins import get_plugin_manager, reporters\n"
        "pm = get_plugin_manager(autoload=False)\n"
        f"load_exercise({str(ROOT / 'exercises' / 'lock_ticket')!r}, pm)\n"
        "assert reporters(pm).get('json') is not None\n"
        "print(' '.join(m for m in sys.modules if m.startswith('ipcgrader.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    # lock_ticket's kinds are in outcome and trace_checks (outcome compares as observed does)
    assert {"ipcgrader.checks.outcome", "ipcgrader.reporters.json_report"} <= loaded
    unused = {*DEFERRED_KINDS, *DEFERRED_REPORTERS} - {
        "ipcgrader.checks.outcome",
        "ipcgrader.checks.observed",
        "ipcgrader.reporters.json_report",
    }
    assert loaded & unused == set()


def test_every_hook_is_documented_and_used() -> None:
    specs = {name: fn for name, fn in vars(hookspecs).items() if name.startswith("ipcgrader_")}
    assert specs
    here = Path(__file__).resolve().parent
    tests_text = "\n".join(p.read_text(encoding="utf-8") for p in here.glob("test_*.py"))
    src = Path(hookspecs.__file__).resolve().parent
    source_text = "\n".join(
        p.read_text(encoding="utf-8") for p in src.rglob("*.py") if p.name != "hookspecs.py"
    )
    for name, fn in specs.items():
        assert fn.__doc__ and len(fn.__doc__.strip()) > 40, f"{name} needs a docstring"
        params = inspect.signature(fn).parameters
        assert all(p.annotation is not inspect.Parameter.empty for p in params.values()), name
        # each hook is called by the host and exercised somewhere in the tests
        assert re.search(rf"hook\.{name}\(", source_text), f"{name} is never called"
        assert name in tests_text, f"no test mentions {name}"
