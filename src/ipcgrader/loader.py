"""The only place that reads ``exercise.toml``. Every error names the file and the field."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
from pydantic import ValidationError

from ipcgrader.models import Exercise, build_exercise_model
from ipcgrader.plugins import PluginError, expectation_kinds, load_exercise_plugin
from ipcgrader.spec_checks import check_exercise

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

SPEC_NAME = "exercise.toml"


class SpecError(Exception):
    """An exercise spec is invalid. ``str()`` is a complete message for the author."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{path}: invalid exercise spec\n{lines}")


@dataclass(frozen=True)
class LoadedExercise:
    """A validated exercise and the folder it came from."""

    spec: Exercise
    directory: Path

    @property
    def spec_path(self) -> Path:
        """Path of the exercise.toml."""
        return self.directory / SPEC_NAME


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """``scenarios[2].expect[0].pattern``, with scenario ids where they help."""
    parts: list[str] = []
    node = data
    for item in loc:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node):
                node = node[item]
                if isinstance(node, dict) and isinstance(node.get("id"), str):
                    label = f"[{item}] (id={node['id']!r})"
            else:
                node = None
            parts.append(label)
        else:
            if isinstance(node, dict) and item in node:
                node = node[item]
            elif (
                isinstance(node, dict)
                and isinstance(node.get("kind"), str)
                and item == node["kind"]
            ):
                # pydantic puts the union tag into the path; it is not a key of the file
                continue
            else:
                node = None
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts) or "(top level)"


def validation_problems(error: ValidationError, data: Any) -> list[str]:
    """One ``field.path: reason`` line per pydantic error."""
    problems = []
    for err in error.errors():
        where = _field_path(tuple(err["loc"]), data)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        problems.append(f"{where}: {message}")
    return problems


def plugin_problem(exc: BaseException, directory: Path) -> str:
    """``line 7: NameError: name 'hookimp' is not defined``: why an exercise's plugin.py
    failed to import (or to register), at its own innermost line."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return f"line {exc.lineno}: SyntaxError: {exc.msg}"
    plugin = (directory / "plugin.py").resolve()
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve() == plugin:
            line = frame.lineno
    text = f"{type(exc).__name__}: {exc}"
    return f"line {line}: {text}" if line is not None else text


def exercise_model(pm: pluggy.PluginManager, data: Any = None) -> type[Exercise]:
    """The Exercise model with every expectation kind the manager knows; given the parsed
    ``data`` of an exercise.toml that names only known kinds, with those kinds alone
    (validation then builds only their models: the others are never used)."""
    kinds = expectation_kinds(pm)
    named = _named_kinds(data)
    if named and named <= set(kinds.names()):
        # only these kinds' modules are imported (the builtins' are deferred)
        return build_exercise_model(kinds.models(named))
    return build_exercise_model(kinds.models())


def _named_kinds(data: Any) -> set[str] | None:
    """The ``kind`` of every expectation in ``data``; None unless each has one."""
    named: set[str] = set()
    scenarios = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(scenarios, list):
        return None
    for scenario in scenarios:
        expect = scenario.get("expect", []) if isinstance(scenario, dict) else None
        if not isinstance(expect, list):
            return None
        for item in expect:
            if not (isinstance(item, dict) and isinstance(item.get("kind"), str)):
                return None
            named.add(item["kind"])
    return named


def load_exercise(exercise_dir: str | Path, pm: pluggy.PluginManager) -> LoadedExercise:
    """Read, validate and return the exercise in ``exercise_dir``.

    Registers the folder's ``plugin.py`` first, so its expectation kinds validate.
    Raises :class:`SpecError` for anything wrong with the folder or its spec.
    """
    directory = Path(exercise_dir)
    spec_path = directory / SPEC_NAME
    if not directory.is_dir():
        raise SpecError(directory, ["not a folder"])
    if not spec_path.is_file():
        raise SpecError(spec_path, ["file not found: an exercise folder holds an exercise.toml"])
    try:
        load_exercise_plugin(pm, directory)
    except Exception as exc:
        raise SpecError(directory / "plugin.py", [plugin_problem(exc, directory)]) from exc
    try:
        # utf-8-sig: an editor that saves with a byte-order mark makes no TOML error
        data = tomllib.loads(spec_path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(spec_path, [f"not valid TOML: {exc}"]) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(spec_path, [f"cannot be read: {exc}"]) from exc
    try:
        spec = exercise_model(pm, data).model_validate(data)
    except ValidationError as exc:
        raise SpecError(spec_path, validation_problems(exc, data)) from exc
    except PluginError as exc:
        raise SpecError(spec_path, [str(exc)]) from exc
    problems = check_exercise(spec, directory)
    if problems:
        raise SpecError(spec_path, problems)
    try:
        pm.hook.ipcgrader_exercise_loaded(exercise=spec, exercise_dir=directory)
    except ValueError as exc:  # a plugin rejecting the spec: its message says why
        raise SpecError(spec_path, [str(exc)]) from exc
    except Exception as exc:
        raise SpecError(spec_path, [f"{type(exc).__name__}: {exc}"]) from exc
    return LoadedExercise(spec=spec, directory=directory.resolve())
