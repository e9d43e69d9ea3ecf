"""``ipcgrade list``: the exercises in some folders and those that plugins provide."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ipcgrader.cli.common import ExitCode, Parser, add_language_argument, error, manager
from ipcgrader.i18n import _
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.plugins import plugin_exercises


def cmd_list(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade list [DIR...]``: exercises in DIRs (default ./exercises) and plugins."""
    parser = Parser(prog="ipcgrade list", description=cmd_list.__doc__)
    parser.add_argument("dirs", nargs="*", metavar="DIR")
    parser.add_argument("--no-plugins", action="store_true")
    add_language_argument(parser)
    args = parser.parse_args(argv)
    pm = manager(args.no_plugins)
    roots = [Path(d) for d in args.dirs] or [Path("exercises")]
    folders: list[tuple[Path, str]] = []
    for root in roots:
        if (root / "exercise.toml").is_file():
            folders.append((root, "folder"))
        elif root.is_dir():
            folders.extend((p.parent, "folder") for p in sorted(root.glob("*/exercise.toml")))
    folders.extend((p, "plugin") for p in plugin_exercises(pm))
    if not folders:
        error(_("no exercises found (give a folder that holds <id>/exercise.toml)"))
        return ExitCode.USAGE_ERROR
    code = ExitCode.OK
    for folder, origin in folders:
        try:
            spec = load_exercise(folder, pm).spec
            print(f"{spec.id:<16} {spec.title}  ({folder}, {origin})")
        except SpecError as exc:
            print(
                _("{exercise} INVALID: {problem}  ({folder}, {origin})").format(
                    exercise=f"{folder.name:<16}",
                    problem=exc.problems[0],
                    folder=folder,
                    origin=origin,
                )
            )
            code = ExitCode.USAGE_ERROR
    return code
