"""``ipcgrade schema``: the JSON Schema of exercise.toml, for editors."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ipcgrader.cli.common import ExitCode, Parser, add_language_argument, manager
from ipcgrader.loader import exercise_model


def cmd_schema(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade schema``: JSON Schema of exercise.toml, with every registered kind."""
    parser = Parser(prog="ipcgrade schema", description=cmd_schema.__doc__)
    parser.add_argument("--no-plugins", action="store_true")
    add_language_argument(parser)
    args = parser.parse_args(argv)
    schema = exercise_model(manager(args.no_plugins)).model_json_schema()
    schema["title"] = "ipcgrader exercise.toml"
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return ExitCode.OK
