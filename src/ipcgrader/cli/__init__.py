"""``ipcgrade``: argument parsing and exit codes only. Grading is decided elsewhere.

One module per subcommand (:mod:`.grade` is the main form, ``ipcgrade EXERCISE_DIR``);
:func:`main` imports only the one it runs. Importing this package loads no plugin:
each command builds a plugin manager when called.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """No cyclic garbage collection meanwhile. Imports make objects that live until the
    command ends and hardly any garbage: each collection while the command's modules
    import (pydantic, the models) would walk them all again, ~10 ms of CPU at a start."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


with _no_collection():
    from ipcgrader.cli.common import ExitCode, UsageError, error, language_from_argv
    from ipcgrader.i18n import LANGUAGES, _
    from ipcgrader.plugins import PluginError

#: Subcommand -> (module under ipcgrader.cli, its command function).
SUBCOMMANDS = {
    "check": ("check", "cmd_check"),
    "schema": ("schema", "cmd_schema"),
    "list": ("listing", "cmd_list"),
    "batch": ("batch", "cmd_batch"),
    "doctor": ("doctor", "cmd_doctor"),
    "report": ("report", "cmd_report"),
}

#: Set to 1 to let an internal error end in its traceback (debugging the grader).
DEBUG_ENV = "IPCGRADER_DEBUG"

__all__ = ["SUBCOMMANDS", "ExitCode", "console_main", "main"]


def _command(module: str, function: str) -> Callable[[Sequence[str]], int]:
    with _no_collection():
        command: Callable[[Sequence[str]], int] = getattr(
            importlib.import_module(f"ipcgrader.cli.{module}"), function
        )
    return command


def _mistyped_command(args: list[str]) -> str | None:
    """The subcommand ``args[0]`` was probably meant to be, when it names no folder."""
    if not args or args[0].startswith("-"):
        return None
    try:
        if Path(args[0]).exists():
            return None
    except (OSError, ValueError):  # a name no file can have: not a folder either
        pass
    import difflib  # only for a word that is no folder (a typo)

    close = difflib.get_close_matches(args[0], list(SUBCOMMANDS), n=1, cutoff=0.6)
    return close[0] if close else None


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
        guess = _mistyped_command(args)
        if guess is not None:
            error(
                _(
                    "{word!r} is neither a command nor an exercise folder; did you mean "
                    "'ipcgrade {command}'?"
                ).format(word=args[0], command=guess)
            )
            return ExitCode.USAGE_ERROR
        return int(_command("grade", "cmd_grade")(args))
    except UsageError as exc:
        error(str(exc))
        return ExitCode.USAGE_ERROR
    except SystemExit as exc:  # argparse: --help is 0, bad usage is 2
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE_ERROR
    except PluginError as exc:
        error(_("plugin error: {problem}").format(problem=exc))
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        error(_("interrupted"))
        return ExitCode.INTERRUPTED
    except Exception as exc:  # a bug of the grader: one line and exit 3, never exit 1
        if os.environ.get(DEBUG_ENV):
            raise
        error(
            _(
                "internal error: {error} (set {env}=1 to see the traceback; please report it)"
            ).format(error=f"{type(exc).__name__}: {exc}", env=DEBUG_ENV)
        )
        return ExitCode.INTERNAL_ERROR


def console_main() -> None:
    """Entry point of the ``ipcgrade`` console script."""
    code = main()
    # What the command made lives until now. Frozen, it is skipped by the collections of
    # the interpreter's shutdown, which would walk all of it (pydantic's schemas, every
    # module: 30-60 ms of CPU) only to free memory that the exit frees anyway; objects are
    # still released as their references go, only cycles are left to the exit.
    gc.freeze()
    sys.exit(code)
