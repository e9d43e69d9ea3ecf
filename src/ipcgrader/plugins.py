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

from ipcgrader import PROJECT_NAME, hookimpl, hookspecs
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

#: Builtin plugins whose one hook adds expectation kinds, with the kinds each adds (in its
#: order), and those whose one hook adds reporters, with their format names. Each is
#: registered, under its module's name, as a stand-in that adds those names; the module is
#: imported when one of them is used, so a grading imports the checks of its exercise's
#: kinds and the reporter of its format only (tests/test_plugins.py holds the names to
#: what the modules add).
DEFERRED_KINDS = {
    "ipcgrader.checks.outcome": ("exit_code", "finishes", "stdout_count", "final_json"),
    "ipcgrader.checks.ordering": ("line_order", "no_interleave", "output_count"),
    "ipcgrader.checks.observed": ("json_value",),
    "ipcgrader.checks.exceptions": ("no_exception",),
    "ipcgrader.checks.portability": ("spawn_safe",),
    "ipcgrader.checks.ipc_trace": ("locked_sections", "pipe_ends", "no_missed_poll"),
    "ipcgrader.checks.state_checks": ("final_state",),
}
DEFERRED_REPORTERS = {
    "ipcgrader.reporters.terminal": ("terminal",),
    "ipcgrader.reporters.json_report": ("json",),
    "ipcgrader.reporters.junit": ("junit",),
    "ipcgrader.reporters.gradescope": ("gradescope",),
    "ipcgrader.reporters.markdown": ("markdown",),
    "ipcgrader.reporters.classroom": ("classroom",),
    "ipcgrader.reporters.github": ("github",),
}


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
        #: by name, in the order they came: the model, or the module of a deferred builtin
        self._kinds: dict[str, type[Expectation] | str] = {}

    def add(self, model: type[Expectation]) -> None:
        """Register ``model``; its ``kind`` must be a one-string ``Literal``."""
        if not (isinstance(model, type) and issubclass(model, Expectation)):
            raise PluginError(f"{model!r} is not a subclass of ipcgrader.models.Expectation")
        names = get_args(model.model_fields["kind"].annotation)
        if len(names) != 1 or not isinstance(names[0], str):
            raise PluginError(f"{_origin(model)}.{model.__name__}: kind must be Literal['name']")
        name = names[0]
        first = self.get(name)
        if first is not None and first is not model:
            raise PluginError(
                f"expectation kind {name!r} is registered twice: by "
                f"{_origin(first)}.{first.__name__} and by {_origin(model)}.{model.__name__}"
            )
        self._kinds[name] = model

    def defer(self, name: str, module: str) -> None:
        """Register the kind ``name`` that the builtin plugin ``module`` adds, importing the
        module only when the kind is used."""
        first = self._kinds.get(name)
        if first is None:
            self._kinds[name] = module
        elif first != module:
            self.add(self._model_in(module, name))  # says who registered it first

    def get(self, name: str) -> type[Expectation] | None:
        """The model of the kind ``name``, if any."""
        entry = self._kinds.get(name)
        if isinstance(entry, str):
            entry = self._kinds[name] = self._model_in(entry, name)
        return entry

    @staticmethod
    def _model_in(module: str, name: str) -> type[Expectation]:
        registry = KindRegistry()
        importlib.import_module(module).ipcgrader_add_expectation_kinds(kinds=registry)
        model = registry._kinds.get(name)
        if not isinstance(model, type):
            raise PluginError(f"{module} adds no expectation kind {name!r}")
        return model

    def models(self, names: Iterable[str] | None = None) -> list[type[Expectation]]:
        """The models of ``names`` (default: of every kind), in the order they came."""
        wanted = set(self._kinds if names is None else names)
        return [m for n in list(self._kinds) if n in wanted and (m := self.get(n)) is not None]

    def __iter__(self) -> Iterator[type[Expectation]]:
        return iter(self.models())

    def names(self) -> list[str]:
        """Registered kind names, sorted."""
        return sorted(self._kinds)


class ReporterRegistry:
    """Reporters by format name, filled in by ``ipcgrader_add_reporters``."""

    def __init__(self) -> None:
        #: by name: the reporter, or the module of a deferred builtin
        self._reporters: dict[str, Reporter | str] = {}

    def add(self, reporter: Reporter) -> None:
        """Register ``reporter`` under ``reporter.name``; names must be unique."""
        name = reporter.name
        first = self._reporters.get(name)
        if first is not None and first is not reporter:
            raise PluginError(
                f"reporter {name!r} is registered twice: by "
                f"{first if isinstance(first, str) else _origin(first)} and by {_origin(reporter)}"
            )
        self._reporters[name] = reporter

    def defer(self, name: str, module: str) -> None:
        """Register the reporter ``name`` that the builtin plugin ``module`` adds,
        importing the module only when that reporter is asked for."""
        first = self._reporters.get(name)
        if first is not None and first != module:
            raise PluginError(
                f"reporter {name!r} is registered twice: by "
                f"{first if isinstance(first, str) else _origin(first)} and by {module}"
            )
        self._reporters[name] = module

    def get(self, name: str) -> Reporter | None:
        """The reporter for a format name, if any."""
        entry = self._reporters.get(name)
        if isinstance(entry, str):
            registry = ReporterRegistry()
            importlib.import_module(entry).ipcgrader_add_reporters(reporters=registry)
            made = registry._reporters.get(name)
            if made is None or isinstance(made, str):
                raise PluginError(f"{entry} adds no reporter {name!r}")
            entry = self._reporters[name] = made
        return entry

    def names(self) -> list[str]:
        """Registered format names, sorted."""
        return sorted(self._reporters)


class _DeferredKinds:
    """Stands in for a builtin plugin of :data:`DEFERRED_KINDS`."""

    def __init__(self, module: str, names: tuple[str, ...]) -> None:
        self.module, self.names = module, names

    @hookimpl(trylast=True)  # as the module's own: a third party's kinds come first
    def ipcgrader_add_expectation_kinds(self, kinds: KindRegistry) -> None:
        for name in self.names:
            kinds.defer(name, self.module)


class _DeferredReporters:
    """Stands in for a builtin plugin of :data:`DEFERRED_REPORTERS`."""

    def __init__(self, module: str, names: tuple[str, ...]) -> None:
        self.module, self.names = module, names

    @hookimpl(trylast=True)  # as the module's own
    def ipcgrader_add_reporters(self, reporters: ReporterRegistry) -> None:
        for name in self.names:
            reporters.defer(name, self.module)


def _builtin(name: str) -> object:
    """The builtin plugin ``name``: its module, or a stand-in that imports it when needed."""
    if name in DEFERRED_KINDS:
        return _DeferredKinds(name, DEFERRED_KINDS[name])
    if name in DEFERRED_REPORTERS:
        return _DeferredReporters(name, DEFERRED_REPORTERS[name])
    return importlib.import_module(name)


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
        pm.register(_builtin(name), name=name)
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
