"""``$name`` substitution in what a scenario writes or passes to a run: fixture files (text
and TOML tables), argv and environment. Pure functions, shared by the loader (which rejects
an unknown name before any run) and the grader (which substitutes)."""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from typing import Any

from ipcgrader.i18n import _


class PlaceholderError(ValueError):
    """A ``$`` that names no parameter, or is not a placeholder at all."""


def placeholders(text: str) -> list[str]:
    """The names ``$name`` / ``${name}`` in ``text``, in order; ``$$`` is a plain ``$``.

    Raises :class:`PlaceholderError` for a ``$`` that starts no valid placeholder.
    """
    names: list[str] = []
    for match in string.Template.pattern.finditer(text):
        if match.group("invalid") is not None:
            column = match.start("invalid")
            raise PlaceholderError(
                _(
                    "a '$' at character {column} starts no placeholder: write $name for a "
                    "parameter, or $$ for a plain '$'"
                ).format(column=column + 1)
            )
        name = match.group("named") or match.group("braced")
        if name:
            names.append(name)
    return names


def unknown_placeholders(value: Any, params: Mapping[str, Any]) -> list[str]:
    """Names of placeholders in ``value`` (text, or any strings inside a table or array)
    that are not parameters. Raises :class:`PlaceholderError` for a malformed ``$``."""
    found: list[str] = []
    if isinstance(value, str):
        found.extend(n for n in placeholders(value) if n not in params)
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(unknown_placeholders(item, params))
    elif isinstance(value, list):
        for item in value:
            found.extend(unknown_placeholders(item, params))
    return list(dict.fromkeys(found))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def substitute_text(text: str, params: Mapping[str, Any]) -> str:
    """``text`` with every ``$name`` replaced by the parameter (JSON for non-strings)."""
    return string.Template(text).substitute({k: _text(v) for k, v in params.items()})


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """``value`` with placeholders substituted; inside tables and arrays a string that is
    exactly ``"$name"`` becomes the parameter itself, with its type (``count = "$tickets"``
    writes ``"count": 1``)."""
    if isinstance(value, str):
        return substitute_text(value, params)
    if isinstance(value, dict):
        return {k: _typed(v, params) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v, params) for v in value]
    return value


def _typed(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        names = placeholders(value)
        if len(names) == 1 and value.strip() in (f"${names[0]}", f"${{{names[0]}}}"):
            return params[names[0]]
    return substitute(value, params)


def fixture_bytes(value: str | dict[str, Any] | list[Any], params: Mapping[str, Any]) -> bytes:
    """The content of a fixture file: text as UTF-8, tables and arrays as JSON."""
    done = substitute(value, params)
    if isinstance(done, str):
        return done.encode("utf-8")
    return json.dumps(done, ensure_ascii=False).encode("utf-8")
