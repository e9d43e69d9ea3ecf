"""The field reference of ``exercise.toml``, generated from the pydantic models (and the
expectation kinds the plugin manager registered), so the documentation cannot drift from
what the loader accepts. ``tools/authoring_reference.py`` writes it into
``docs/authoring.md``; a test fails when the file is out of date."""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ipcgrader.models import Exercise, Expectation, Limits, Scenario, TraceOptions

BEGIN = "<!-- BEGIN GENERATED REFERENCE (tools/authoring_reference.py) -->"
END = "<!-- END GENERATED REFERENCE -->"


def _type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(
            f'`"{v}"`' if isinstance(v, str) else f"`{v}`" for v in get_args(annotation)
        )
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in get_args(annotation) if a is not type(None))
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        return f"list of {_type(args[0])}" if args else "list"
    if origin is dict:
        _key, value = get_args(annotation)
        return f"table of {_type(value)}"
    if origin is typing.Annotated:
        return _type(get_args(annotation)[0])
    if annotation is Any:
        return "any"
    if inspect.isclass(annotation):
        names = {"str": "string", "int": "integer", "float": "number", "bool": "boolean"}
        if issubclass(annotation, BaseModel):
            return f"[{annotation.__name__}](#{annotation.__name__.lower()})"
        if hasattr(annotation, "__members__"):
            return " \\| ".join(f'`"{m.value}"`' for m in annotation.__members__.values())
        return names.get(annotation.__name__, annotation.__name__)
    return str(annotation).replace("typing.", "")


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "its defaults"
        return "`" + json.dumps(value, ensure_ascii=False) + "`"
    value = info.default
    if value is None or value is PydanticUndefined:
        return "—"
    if hasattr(value, "value"):
        value = value.value
    return (
        f'`"{value}"`'
        if isinstance(value, str)
        else f"`{str(value).lower() if isinstance(value, bool) else value}`"
    )


def _range(info: FieldInfo) -> str:
    words = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{sign} {value}")
        if getattr(item, "min_length", None):
            words.append(f"at least {item.min_length}")
    return f" ({', '.join(words)})" if words else ""


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _doc(model: type[BaseModel]) -> str:
    text = inspect.getdoc(model) or ""
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def _table(model: type[BaseModel], skip: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        meaning = _cell((info.description or "") + _range(info))
        lines.append(f"| `{name}` | {_type(info.annotation)} | {_default(info)} | {meaning} |")
    return lines


def kind_name(model: type[Expectation]) -> str:
    """The ``kind = "..."`` value of an expectation model."""
    return str(get_args(model.model_fields["kind"].annotation)[0])


def reference_markdown(kinds: list[type[Expectation]]) -> str:
    """The whole generated reference: the spec's tables, then one section per kind."""
    out: list[str] = []
    sections: list[tuple[type[BaseModel], str]] = [
        (Exercise, "Exercise (the top level of exercise.toml)"),
        (Scenario, "Scenario (`[[scenarios]]`)"),
        (Limits, "Limits (`[limits]`, `[scenarios.limits]`)"),
        (TraceOptions, "TraceOptions (`[trace]`, `[scenarios.trace]`)"),
    ]
    for section, title in sections:
        out += [f"### {title}", "", _doc(section), "", *_table(section), ""]
    out += [
        "### Expectation fields every kind has (`[[scenarios.expect]]`)",
        "",
        *_table(Expectation, skip={"kind"}),
        "",
    ]
    common = set(Expectation.model_fields)
    for model in sorted(kinds, key=kind_name):
        name = kind_name(model)
        flags = []
        if not model.needs_complete_run:
            flags.append(model.when_stopped or "judged even when the run did not end normally")
        if model.open_names:
            flags.append("its expressions may also use the names the driver observed")
        out += [f'### kind = "{name}"', "", _doc(model), ""]
        if flags:
            out += [f"*{'; '.join(flags).capitalize()}.*", ""]
        own = {n for n in model.model_fields if n not in common}
        if own:
            out += _table(model, skip=set(model.model_fields) - own)
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def replace_block(document: str, block: str) -> str:
    """``document`` with the text between :data:`BEGIN` and :data:`END` replaced."""
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    return document[:start] + "\n\n" + block + "\n" + document[end:]
