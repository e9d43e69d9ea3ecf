"""Tiny, safe arithmetic over scenario parameters, e.g. ``min(tickets, buyers)``.

Exercise authors write expected values as expressions of the scenario's ``params``. Only
numbers, strings, lists, parameter names, arithmetic, comparisons, ``and``/``or``/``not``
and a few pure functions are allowed: a spec can never run code in the grader.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Collection, Mapping
from typing import Any

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda item, container: item in container,
    ast.NotIn: lambda item, container: item not in container,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "len": len,
    "sum": sum,
    "int": int,
    "round": round,
    "sorted": sorted,
    "range": lambda *a: list(range(*a)),
    "str": str,
    "upper": lambda s: str(s).upper(),
}


#: Facts observed in a run that every expression may use besides the parameters. A check
#: that needs one and runs on a run where it is not known (an untraced run) cannot check.
RUN_FACTS: dict[str, str] = {
    "processes": "child processes of student code the run started (from the trace)",
}


class ExpressionError(ValueError):
    """The expression is not allowed or cannot be computed."""


def functions() -> list[str]:
    """Names of the functions an expression may call."""
    return sorted(_FUNCTIONS)


def check(source: str, names: Collection[str] | None) -> set[str]:
    """Check ``source`` without evaluating it; return the names it uses.

    Raises :class:`ExpressionError` when it does not parse, uses anything the language does
    not allow, or (unless ``names`` is None) a name that is not in ``names``.
    """
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{source!r} is not an expression: {exc.msg}") from exc
    used: set[str] = set()
    _check(tree.body, used)
    if names is not None:
        unknown = sorted(used - set(names))
        if unknown:
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(
                f"{source!r}: unknown name {unknown[0]!r} (names it may use: {known})"
            )
    return used


def _check(node: ast.AST, used: set[str]) -> None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return
    if isinstance(node, ast.Name):
        used.add(node.id)
        return
    children: list[ast.AST]
    if isinstance(node, (ast.List, ast.Tuple)):
        children = list(node.elts)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        children = [node.operand]
    elif isinstance(node, ast.BoolOp):  # and, or: _eval computes them (explain.when uses them)
        children = list(node.values)
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        children = [node.left, node.right]
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        children = [node.left, node.comparators[0]]
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        children = list(node.args)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        raise ExpressionError(
            f"{node.func.id}() is not a function expressions may call "
            f"(they may call: {', '.join(functions())})"
        )
    else:
        raise ExpressionError(f"not allowed in an expression: {ast.unparse(node)!r}")
    for child in children:
        _check(child, used)


def evaluate(source: str, names: Mapping[str, Any]) -> Any:
    """Value of ``source`` with ``names`` (the scenario parameters) bound."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"{source!r} is not an expression: {exc.msg}") from exc
    try:
        return _eval(tree.body, names)
    except ExpressionError:
        raise
    except Exception as exc:
        raise ExpressionError(f"{source!r}: {type(exc).__name__}: {exc}") from exc


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ExpressionError(f"unknown name {node.id!r} (parameters: {known})")
        return names[node.id]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(item, names) for item in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, names)
    if isinstance(node, ast.BoolOp):
        values = (_eval(value, names) for value in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_eval(node.left, names), _eval(node.right, names))
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE:
        left, right = _eval(node.left, names), _eval(node.comparators[0], names)
        return _COMPARE[type(node.ops[0])](left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval(arg, names) for arg in node.args))
    raise ExpressionError(f"not allowed in an expression: {ast.unparse(node)!r}")


def resolve(value: Any, names: Mapping[str, Any]) -> Any:
    """``value`` itself, or its evaluation when it is a string expression."""
    return evaluate(value, names) if isinstance(value, str) else value
