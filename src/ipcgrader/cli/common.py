"""What every subcommand shares: exit codes, error lines, the limit options, the plugin
manager. Nothing here grades."""

from __future__ import annotations

import argparse
import enum
import sys
from pathlib import Path

import pluggy

from ipcgrader.i18n import LANGUAGES, _, set_language
from ipcgrader.models import Limits
from ipcgrader.plugins import get_plugin_manager


class ExitCode(enum.IntEnum):
    """Exit codes of ``ipcgrade`` (README, "For instructors and course CI")."""

    OK = 0  #: full marks
    BELOW_FULL_MARKS = 1  #: graded, some points lost
    USAGE_ERROR = 2  #: bad usage or an invalid exercise
    INTERNAL_ERROR = 3  #: the grader itself failed
    INTERRUPTED = 130  #: Ctrl-C or SIGTERM; what was finished is kept


def error(message: str, prog: str = "ipcgrade") -> None:
    """Print one ``PROG: error: MESSAGE`` line on stderr."""
    print(f"{prog}: error: {message}", file=sys.stderr)


def add_language_argument(parser: argparse.ArgumentParser) -> None:
    """``--lang zh|en``: the language of every message (the command's own parsing of it is
    :func:`language_from_argv`, made before the parser runs so ``--help`` speaks it too)."""
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        metavar="|".join(LANGUAGES),
        help=_("language of the messages (default: from LC_ALL, LC_MESSAGES or LANG; English)"),
    )


def language_from_argv(argv: list[str]) -> str:
    """Set the language ``--lang`` asks for in ``argv``, else the environment's; returns it.

    Raises ValueError for a language the grader does not speak."""
    lang: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and index + 1 < len(argv):
            lang = argv[index + 1]
        elif arg.startswith("--lang="):
            lang = arg.split("=", 1)[1]
    return set_language(lang)


def manager(no_plugins: bool) -> pluggy.PluginManager:
    """A plugin manager, without installed packages' plugins when ``no_plugins``."""
    return get_plugin_manager(autoload=False if no_plugins else None)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


#: Command-line options that override the spec's limits: option -> Limits field.
LIMIT_OPTIONS = {
    "--memory-mb": ("memory_mb", "MB", "address space per process, MiB"),
    "--cpu-s": ("cpu_s", "S", "CPU seconds per process"),
    "--processes": ("processes", "N", "live processes in a run"),
    "--output-bytes": ("output_bytes", "N", "stdout and stderr cap, each"),
    "--file-bytes": ("file_bytes", "N", "largest file a run may write"),
    "--open-files": ("open_files", "N", "open file descriptors per process"),
}


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The limit overrides (``--memory-mb`` ...), each replacing the spec's value."""
    for option, (name, metavar, text) in LIMIT_OPTIONS.items():
        parser.add_argument(option, dest=name, type=_positive, metavar=metavar, help=text)


def limits_from_args(args: argparse.Namespace) -> Limits | None:
    """The limits given on the command line, or None if none was."""
    given = {name: getattr(args, name, None) for name, _, _ in LIMIT_OPTIONS.values()}
    given = {name: value for name, value in given.items() if value is not None}
    return Limits(**given) if given else None


def write_output(text: str, output: str | None) -> None:
    """Write a report to the file ``output``, or to stdout when it is None."""
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
