"""The plugin manager factory and the registration objects plugins fill in.

Nothing is loaded at import time: :func:`get_plugin_manager` builds a manager when asked.
Builtins are registered through the same ``register()`` as entry-point plugins, so a third
party can block or replace any of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Protocol, get_args

import pluggy

from ipcgrader import PROJECT_NAME, hookspecs
from ipcgrader.entry_points import may_declare
from ipcgrader.models import Expectation
from ipcgrader.results import ExerciseResult

#: Set to 1 to skip loading plugins from installed packages (tests, debugging).
DISABLE_AUTOLOAD_ENV = "IPCGRADER_DISABLE_PLUGIN_AUTOLOAD"

BUILTIN_PLUGINS = (
    "ipcgrader.checks.outcome",
    "ipcgrader.checks.ordering",
    "ipcgrader.checks.observed",
    "ipcgrader.checks.exceptions",
    "ipcgrader.checks.portability",
    "ipcgrader.checks.ipc_trace",
    "ipcgrader.checks.trace_checks",
    "ipcgrader.checks.state_checks",
    "ipcgrader.reporters.terminal",
    "ipcgrader.reporters.json_report",
    "ipcgrader.reporters.junit",
    "ipcgrader.reporters.gradescope",
    "ipcgrader.reporters.markdown",
    "ipcgrader.reporters.classroom",
    "ipcgrader.reporters.github",
    "ipcgrader.harness_plugin",
)


class PluginError(Exception):
    """A plugin registered something invalid (duplicate name, malformed kind)."""


class Reporter(Protocol):
    """An output format. ``render`` is a pure function of the result."""

    name: str
    description: str

    def render(self, result: ExerciseResult) -> str:
        """The whole report of one grading as text."""
        ...


def _origin(obj: object) -> str:
    return getattr(obj, "__module__", None) or type(obj).__module__


class KindRegistry:
    """Expectation kinds by name, filled in by ``ipcgrader_add_expectation_kinds``."""

    def __init__(self) -> None:
        self._kinds: dict[str, type[Expectation]] = {}

    def add(self, model: type[Expectation]) -> None:
        """Register ``model``; its ``kind`` must be a one-string ``Literal``."""
        if not (isinstance(model, type) and issubclass(model, Expectation)):
            raise PluginError(f"{model!r} is not a subclass of ipcgrader.models.Expectation")
        names = get_args(model.model_fields["kind"].annotation)
        if len(names) != 1 or not isinstance(names[0], str):
            raise PluginError(f"{_origin(model)}.{model.__name__}: kind must be Literal['name']")
        name = names[0]
        if name in self._kinds and self._kinds[name] is not model:
            first = self._kinds[name]
            raise PluginError(
                f"expectation kind {name!r} is registered twice: by "
                f"{_origin(first)}.{first.__name__} and by {_origin(model)}.{model.__name__}"
            )
        self._kinds[name] = model

    def __iter__(self) -> Iterator[type[Expectation]]:
        return iter(self._kinds.values())

    def names(self) -> list[str]:
        """Registered kind names, sorted."""
        return sorted(self._kinds)


class ReporterRegistry:
    """Reporters by format name, filled in by ``ipcgrader_add_reporters``."""

    def __init__(self) -> None:
        self._reporters: dict[str, Reporter] = {}

    def add(self, reporter: Reporter) -> None:
        """Register ``reporter`` under ``reporter.name``; names must be unique."""
        name = reporter.name
        if name in self._reporters and self._reporters[name] is not reporter:
            raise PluginError(
                f"reporter {name!r} is registered twice: by "
                f"{_origin(self._reporters[name])} and by {_origin(reporter)}"
            )
        self._reporters[name] = reporter

    def get(self, name: str) -> Reporter | None:
        """The reporter for a format name, if any."""
        return self._reporters.get(name)

    def names(self) -> list[str]:
        """Registered format names, sorted."""
        return sorted(self._reporters)


class ExerciseRegistry:
    """Exercise folders provided by plugins, filled in by ``ipcgrader_add_exercises``."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def add(self, path: str | os.PathLike[str]) -> None:
        """Offer the exercise folder ``path`` (it must hold an exercise.toml)."""
        folder = Path(path)
        if not (folder / "exercise.toml").is_file():
            raise PluginError(f"{folder} has no exercise.toml")
        if folder not in self.paths:
            self.paths.append(folder)


def get_plugin_manager(
    *, autoload: bool | None = None, plugins: Iterable[object] = ()
) -> pluggy.PluginManager:
    """A new plugin manager with the hookspecs, the builtins, entry-point plugins (unless
    ``autoload`` is False or ``IPCGRADER_DISABLE_PLUGIN_AUTOLOAD`` is set) and ``plugins``.

    Ends with ``check_pending()`` so that a misspelled hook name is an error.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if autoload is None:
        autoload = not os.environ.get(DISABLE_AUTOLOAD_ENV)
    if autoload and may_declare(PROJECT_NAME):  # importlib.metadata only if some may
        pm.load_setuptools_entrypoints(PROJECT_NAME)
    for plugin in plugins:
        pm.register(plugin)
    pm.check_pending()
    return pm


def load_exercise_plugin(pm: pluggy.PluginManager, exercise_dir: Path) -> ModuleType | None:
    """Register the exercise folder's ``plugin.py``, if it has one, and return it."""
    path = exercise_dir / "plugin.py"
    if not path.is_file():
        return None
    name = f"ipcgrader_exercise_plugin_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        module = sys.modules[name]
    else:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"{path}: cannot be imported")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
    if not pm.is_registered(module):
        pm.register(module, name=f"exercise-plugin:{exercise_dir.name}")
        pm.check_pending()
    return module


def expectation_kinds(pm: pluggy.PluginManager) -> KindRegistry:
    """Every expectation kind the manager's plugins register."""
    kinds = KindRegistry()
    pm.hook.ipcgrader_add_expectation_kinds(kinds=kinds)
    return kinds


def reporters(pm: pluggy.PluginManager) -> ReporterRegistry:
    """Every reporter the manager's plugins register."""
    registry = ReporterRegistry()
    pm.hook.ipcgrader_add_reporters(reporters=registry)
    return registry


def plugin_exercises(pm: pluggy.PluginManager) -> list[Path]:
    """Exercise folders that plugins provide."""
    registry = ExerciseRegistry()
    pm.hook.ipcgrader_add_exercises(exercises=registry)
    return registry.paths
