"""``ipcgrade``: argument parsing and exit codes only. Grading is decided elsewhere.

One module per subcommand (:mod:`.grade` is the main form, ``ipcgrade EXERCISE_DIR``);
:func:`main` imports only the one it runs. Importing this package loads no plugin:
each command builds a plugin manager when called.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

from ipcgrader.cli.common import ExitCode, error, language_from_argv
from ipcgrader.i18n import LANGUAGES, _
from ipcgrader.plugins import PluginError

#: Subcommand -> (module under ipcgrader.cli, its command function).
SUBCOMMANDS = {
    "schema": ("schema", "cmd_schema"),
    "list": ("listing", "cmd_list"),
    "batch": ("batch", "cmd_batch"),
    "doctor": ("doctor", "cmd_doctor"),
    "report": ("report", "cmd_report"),
}

__all__ = ["SUBCOMMANDS", "ExitCode", "console_main", "main"]


def _command(module: str, function: str) -> Callable[[Sequence[str]], int]:
    command: Callable[[Sequence[str]], int] = getattr(
        importlib.import_module(f"ipcgrader.cli.{module}"), function
    )
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ipcgrade`` with ``argv`` and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        language_from_argv(args)
    except ValueError:
        error(_("--lang must be one of: {choices}").format(choices=", ".join(LANGUAGES)))
        return ExitCode.USAGE_ERROR
    try:
        if args and args[0] in SUBCOMMANDS:
            return int(_command(*SUBCOMMANDS[args[0]])(args[1:]))
        return int(_command("grade", "cmd_grade")(args))
    except SystemExit as exc:  # argparse: --help is 0, bad usage is 2
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE_ERROR
    except PluginError as exc:
        error(_("plugin error: {problem}").format(problem=exc))
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        error(_("interrupted"))
        return ExitCode.INTERRUPTED


def console_main() -> None:
    """Entry point of the ``ipcgrade`` console script."""
    sys.exit(main())
