"""What every subcommand shares: exit codes, error lines, the limit options, the plugin
manager. Nothing here grades."""

from __future__ import annotations

import argparse
import contextlib
import enum
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import pluggy
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from ipcgrader.i18n import LANGUAGES, _, set_language
from ipcgrader.models import Limits
from ipcgrader.plugins import Reporter, ReporterRegistry, get_plugin_manager


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


def reporter_named(formats: ReporterRegistry, name: str) -> Reporter | None:
    """The reporter of ``--format name``, or None after saying which formats there are."""
    reporter = formats.get(name)
    if reporter is None:
        error(
            _("unknown --format {format!r}; choose from {choices}").format(
                format=name, choices=", ".join(formats.names())
            )
        )
    return reporter


def manager(no_plugins: bool) -> pluggy.PluginManager:
    """A plugin manager, without installed packages' plugins when ``no_plugins``."""
    return get_plugin_manager(autoload=False if no_plugins else None)


class UsageError(Exception):
    """Bad command-line input found after parsing; ``str()`` is the whole message."""


class Parser(argparse.ArgumentParser):
    """argparse with the project's error form: one ``ipcgrade: error: ...`` line, exit 2
    (argparse's own prints the usage first and names the subcommand as the program)."""

    def error(self, message: str) -> NoReturn:
        """Print one error line and exit with the usage-error status."""
        error(_("{problem} (see {prog} --help)").format(problem=message, prog=self.prog))
        raise SystemExit(ExitCode.USAGE_ERROR)


def _bounds(info: FieldInfo) -> list[str]:
    words = []
    for item in info.metadata:
        for attr, sign in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            value = getattr(item, attr, None)
            if value is not None:
                words.append(f"{sign} {value}" if isinstance(value, int) else f"{sign} {value:g}")
    return words


@functools.lru_cache(maxsize=64)
def spec_option(model: type[BaseModel], name: str) -> Callable[[str], Any]:
    """An argparse ``type`` that accepts what ``model.name`` accepts in exercise.toml, with
    the same range (and finite numbers only): the command line cannot set what a spec
    could not."""
    info = model.model_fields[name]
    field_type: Any = Annotated[info.annotation, info]
    adapter: TypeAdapter[Any] = TypeAdapter(field_type)
    whole = "int" in str(info.annotation)
    range_text = _(" and ").join(_bounds(info))

    def parse(text: str) -> Any:
        value: Any = None
        with contextlib.suppress(ValidationError):
            value = adapter.validate_python(text.strip())
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            kind = _("a whole number") if whole else _("a number")
            raise argparse.ArgumentTypeError(
                _("must be {kind} {range}, not {text!r}").format(
                    kind=kind, range=range_text, text=text
                )
            )
        return value

    parse.__name__ = name  # argparse names the type in some messages
    return parse


#: Most runs or cores one command may ask for.
MAX_JOBS = 1024


def jobs_option(text: str) -> int:
    """``-j N``: a whole number from 1 to :data:`MAX_JOBS`."""
    try:
        value = int(text.strip())
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(
            _("must be a whole number from 1 to {most}, not {text!r}").format(
                most=MAX_JOBS, text=text
            )
        )
    return value


#: Limit options whose value the kernel caps per process: their rlimit and unit in bytes.
_RLIMITS = {
    "memory_mb": ("RLIMIT_AS", 1 << 20),
    "cpu_s": ("RLIMIT_CPU", 1),
    "file_bytes": ("RLIMIT_FSIZE", 1),
    "open_files": ("RLIMIT_NOFILE", 1),
}


def _within_hard_limit(name: str, parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """``parse``, refusing a value above this machine's hard limit (a run could not even
    start with it, and the student would be charged)."""

    def checked(text: str) -> Any:
        value = parse(text)
        if name in _RLIMITS:
            import resource

            rlimit, unit = _RLIMITS[name]
            hard = resource.getrlimit(getattr(resource, rlimit))[1]
            if hard != resource.RLIM_INFINITY and value * unit > hard:
                raise argparse.ArgumentTypeError(
                    _("{value} is above this machine's hard limit ({hard})").format(
                        value=value, hard=hard // unit
                    )
                )
        return value

    checked.__name__ = name
    return checked


#: Command-line options that override the spec's limits: option -> Limits field.
LIMIT_OPTIONS = {
    "--memory-mb": ("memory_mb", "MB", "address space per process, MiB"),
    "--cpu-s": ("cpu_s", "S", "CPU seconds per process"),
    "--run-cpu-s": ("run_cpu_s", "S", "CPU seconds of a whole run, all processes together"),
    "--processes": ("processes", "N", "live processes in a run"),
    "--output-bytes": ("output_bytes", "N", "stdout and stderr cap, each"),
    "--file-bytes": ("file_bytes", "N", "largest file a run may write"),
    "--open-files": ("open_files", "N", "open file descriptors per process"),
}


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The limit overrides (``--memory-mb`` ...), each replacing the spec's value."""
    for option, (name, metavar, text) in LIMIT_OPTIONS.items():
        parse = _within_hard_limit(name, spec_option(Limits, name))
        parser.add_argument(option, dest=name, type=parse, metavar=metavar, help=text)


def limits_from_args(args: argparse.Namespace) -> Limits | None:
    """The limits given on the command line, or None if none was."""
    given = {name: getattr(args, name, None) for name, _, _ in LIMIT_OPTIONS.values()}
    given = {name: value for name, value in given.items() if value is not None}
    return Limits(**given) if given else None


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def check_output_file(output: str) -> None:
    """Raise :class:`UsageError` unless a report can be written to the file ``output``
    (checked before grading, so a bad path never costs a grading or ends in a traceback)."""
    path = Path(output)
    if output.endswith(("/", os.sep)) or path.is_dir():
        raise UsageError(_("--output {path}: is a folder, not a file").format(path=output))
    if path.exists():
        if not os.access(path, os.W_OK):
            raise UsageError(_("--output {path}: not writable").format(path=output))
        return
    base = _nearest_existing(path.parent)
    if not base.is_dir():
        raise UsageError(
            _("--output {path}: {base} is a file, not a folder").format(path=output, base=base)
        )
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(
            _("--output {path}: cannot create it ({base} is not writable)").format(
                path=output, base=base
            )
        )


def check_output_folder(folder: str, option: str = "--out") -> None:
    """Raise :class:`UsageError` unless ``folder`` is (or can be created as) a writable
    folder."""
    path = Path(folder)
    if path.exists():
        if not path.is_dir():
            raise UsageError(
                _("{option} {path}: is a file, not a folder").format(option=option, path=folder)
            )
        if not os.access(path, os.W_OK | os.X_OK):
            raise UsageError(_("{option} {path}: not writable").format(option=option, path=folder))
        return
    base = _nearest_existing(path)
    if not base.is_dir() or not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(
            _("{option} {path}: cannot create it under {base}").format(
                option=option, path=folder, base=base
            )
        )


def write_output(text: str, output: str | None) -> None:
    """Write a report to the file ``output``, or to stdout when it is None.

    Raises :class:`UsageError` when the file cannot be written."""
    if output:
        try:
            Path(output).parent.mkdir(parents=True, exist_ok=True)
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                _("cannot write {path}: {reason}").format(path=output, reason=exc.strerror or exc)
            ) from exc
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
