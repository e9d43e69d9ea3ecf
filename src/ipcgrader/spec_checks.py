"""What the loader checks in an exercise folder beyond the models' own validation, before any
run: everything an author can get wrong that would otherwise surface as a student's failure.

Each problem is one ``field.path: reason`` line (the loader prefixes the file). Nothing here
runs exercise code: drivers are parsed with :mod:`ast`, and their ``drive`` signature is
rebuilt from the syntax tree (defaults and annotations dropped) to bind each scenario's
parameters.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ipcgrader import expr
from ipcgrader.fixtures import PlaceholderError, unknown_placeholders
from ipcgrader.i18n import _
from ipcgrader.models import Exercise, Scenario
from ipcgrader.scoring import check_ids

#: Environment variables a scenario may not set: the grader's own and the interpreter's.
RESERVED_ENV_PREFIXES = ("IPCGRADER_", "PYTHON")


def scenario_path(index: int, scenario: Scenario) -> str:
    """``scenarios[2] (id='plenty')``: how messages name a scenario."""
    return f"scenarios[{index}] (id={scenario.id!r})"


def check_exercise(spec: Exercise, directory: Path) -> list[str]:
    """Every problem found in the folder and the spec, in spec order."""
    problems = list(_entries(spec, directory))
    drivers: dict[str, _Driver] = {}
    for index, scenario in enumerate(spec.scenarios):
        where = scenario_path(index, scenario)
        problems.extend(_names_and_placeholders(where, scenario))
        problems.extend(_paths(where, scenario))
        problems.extend(_expressions(where, scenario))
        if scenario.driver is not None:
            problems.extend(_driver(where, scenario, directory, drivers))
    problems.extend(_duplicate_ids(spec))
    return problems


def _entries(spec: Exercise, directory: Path) -> Iterator[str]:
    for i, name in enumerate(spec.entry):
        if not (directory / name).is_file():
            yield _(
                "entry[{index}]: {name!r} is not in the exercise folder (ship the starter "
                "file students complete; the self-test and the default submission use it)"
            ).format(index=i, name=name)


def _names_and_placeholders(where: str, scenario: Scenario) -> Iterator[str]:
    params = scenario.params
    for name in params:
        if name in expr.RUN_FACTS:
            yield _(
                "{where}.params.{name}: the name is taken by a run fact that expressions use"
            ).format(where=where, name=name)
    places: list[tuple[str, Any]] = [
        (f"fixtures.{name!r}", value) for name, value in scenario.fixtures.items()
    ]
    places += [(f"args[{i}]", a) for i, a in enumerate(scenario.args)]
    places += [(f"env.{k}", v) for k, v in scenario.env.items()]
    for field, value in places:
        try:
            unknown = unknown_placeholders(value, params)
        except PlaceholderError as exc:
            yield f"{where}.{field}: {exc}"
            continue
        for name in unknown:
            known = ", ".join(sorted(params)) or _("none")
            yield _(
                "{where}.{field}: ${name} is not a parameter of this scenario (parameters: {known})"
            ).format(where=where, field=field, name=name, known=known)
    for key in scenario.env:
        if key.startswith(RESERVED_ENV_PREFIXES) or not key.isidentifier():
            yield _(
                "{where}.env.{key}: not a variable a scenario may set (names starting with "
                "IPCGRADER_ or PYTHON belong to the grader)"
            ).format(where=where, key=key)


def _relative_inside(name: str) -> bool:
    path = PurePosixPath(name.replace("\\", "/"))
    return bool(name) and not path.is_absolute() and ".." not in path.parts


def _paths(where: str, scenario: Scenario) -> Iterator[str]:
    for field, names in (("fixtures", list(scenario.fixtures)), ("collect", scenario.collect)):
        for name in names:
            if not _relative_inside(name):
                yield _(
                    "{where}.{field}: {name!r} must be a relative path inside the run folder"
                ).format(where=where, field=field, name=name)


def _expressions(where: str, scenario: Scenario) -> Iterator[str]:
    known = set(scenario.params) | set(expr.RUN_FACTS)
    for e_index, expectation in enumerate(scenario.expect):
        for field, source in expectation.expressions():
            place = f"{where}.expect[{e_index}] ({expectation.kind}).{field}"
            try:
                used = expr.check(source, None if expectation.open_names else known)
            except expr.ExpressionError as exc:
                yield f"{place}: {exc}"
                continue
            if expectation.open_names or used & set(expr.RUN_FACTS):
                continue
            try:  # parameters only: it can be computed now, so compute it
                expr.evaluate(source, scenario.params)
            except expr.ExpressionError as exc:
                yield f"{place}: {exc}"


class _Driver:
    """A parsed driver: its ``drive`` signature, or the reason it has none."""

    def __init__(self, path: Path) -> None:
        self.problem: str | None = None
        self.signature: inspect.Signature | None = None
        try:
            source = path.read_bytes()
            tree = ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            self.problem = _("line {line}: SyntaxError: {msg}").format(line=exc.lineno, msg=exc.msg)
            return
        except (OSError, ValueError) as exc:
            self.problem = _("cannot be read: {error}").format(error=exc)
            return
        drives = [
            node
            for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "drive"
        ]
        if not drives or isinstance(drives[-1], ast.AsyncFunctionDef):
            self.problem = _("defines no top-level function drive(student, **params)")
            return
        self.signature = _signature(drives[-1])


def _signature(node: ast.FunctionDef) -> inspect.Signature:
    """The signature of ``node`` without running any of the driver: defaults and
    annotations (which would be evaluated) are replaced by None."""
    args = node.args
    stub_args = ast.arguments(
        posonlyargs=[ast.arg(a.arg) for a in args.posonlyargs],
        args=[ast.arg(a.arg) for a in args.args],
        vararg=None if args.vararg is None else ast.arg(args.vararg.arg),
        kwonlyargs=[ast.arg(a.arg) for a in args.kwonlyargs],
        kw_defaults=[None if d is None else ast.Constant(None) for d in args.kw_defaults],
        kwarg=None if args.kwarg is None else ast.arg(args.kwarg.arg),
        defaults=[ast.Constant(None) for _default in args.defaults],
    )
    stub = ast.FunctionDef(
        name="drive", args=stub_args, body=[ast.Pass()], decorator_list=[], returns=None
    )
    module = ast.fix_missing_locations(ast.Module(body=[stub], type_ignores=[]))
    namespace: dict[str, Any] = {}
    exec(compile(module, "<drive signature>", "exec"), namespace)  # a bare def, nothing else
    return inspect.signature(namespace["drive"])


def _driver(
    where: str, scenario: Scenario, directory: Path, cache: dict[str, _Driver]
) -> Iterator[str]:
    name = scenario.driver or ""
    field = f"{where}.driver"
    if not _relative_inside(name) or not name.endswith(".py"):
        yield _("{field}: {name!r} must be a .py file inside the exercise folder").format(
            field=field, name=name
        )
        return
    path = directory / name
    if not path.is_file():
        yield _("{field}: {name!r} not found in {folder}").format(
            field=field, name=name, folder=directory
        )
        return
    driver = cache.setdefault(name, _Driver(path))
    if driver.problem is not None:
        yield f"{field}: {name}: {driver.problem}"
        return
    assert driver.signature is not None
    try:
        driver.signature.bind(object(), **scenario.params)
    except TypeError as exc:
        params = ", ".join(scenario.params) or _("none")
        yield _(
            "{field}: {name}: drive{signature} cannot take this scenario's parameters "
            "({params}): {error}"
        ).format(
            field=field,
            name=name,
            signature=str(driver.signature),
            params=params,
            error=exc,
        )


def _duplicate_ids(spec: Exercise) -> Iterator[str]:
    seen: dict[str, str] = {}
    for (scenario_id, index), check_id in check_ids(spec).items():
        here = f"scenario {scenario_id!r}, expect[{index}]"
        if check_id in seen:
            yield _("check id {id!r} is used twice: by {first} and by {second}").format(
                id=check_id, first=seen[check_id], second=here
            )
        else:
            seen[check_id] = here
