"""``ipcgrade``: argument parsing and exit codes only. Grading is decided elsewhere.

Importing this module loads no plugin: ``main(argv)`` builds a plugin manager when called.
"""

from __future__ import annotations

import argparse
import enum
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pluggy

from ipcgrader import __version__
from ipcgrader.loader import SpecError, exercise_model, load_exercise
from ipcgrader.models import Limits
from ipcgrader.plugins import PluginError, get_plugin_manager, plugin_exercises, reporters
from ipcgrader.results import ExerciseResult, Status
from ipcgrader.session import Options, grade, internal_error
from ipcgrader.submission import SubmissionError

SUBCOMMANDS = ("schema", "list", "batch", "doctor")


class ExitCode(enum.IntEnum):
    """Exit codes of ``ipcgrade`` (DESIGN.md, "Stable interface")."""

    OK = 0  #: full marks
    BELOW_FULL_MARKS = 1  #: graded, some points lost
    USAGE_ERROR = 2  #: bad usage or an invalid exercise
    INTERNAL_ERROR = 3  #: the grader itself failed


def _error(message: str) -> None:
    print(f"ipcgrade: error: {message}", file=sys.stderr)


def grade_parser() -> argparse.ArgumentParser:
    """Parser of the main form, ``ipcgrade EXERCISE_DIR``."""
    parser = argparse.ArgumentParser(
        prog="ipcgrade",
        description="Grade a process-communication exercise. Other commands: "
        "ipcgrade schema | list [DIR...] | batch ... | doctor",
    )
    parser.add_argument("exercise", metavar="EXERCISE_DIR", help="folder with exercise.toml")
    parser.add_argument(
        "--submission",
        metavar="PATH",
        help="file or folder to grade (default: the entry files in EXERCISE_DIR)",
    )
    parser.add_argument("--format", default="terminal", help="report format (default: terminal)")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report to FILE")
    parser.add_argument("--timeout", type=float, metavar="S", help="wall timeout of every run")
    add_limit_arguments(parser)
    parser.add_argument("-j", "--jobs", type=int, metavar="N", help="runs made at once")
    parser.add_argument("--no-color", action="store_true", help="plain text even on a terminal")
    parser.add_argument(
        "--no-plugins", action="store_true", help="do not load plugins of installed packages"
    )
    parser.add_argument("--version", action="version", version=f"ipcgrader {__version__}")
    return parser


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


def _manager(no_plugins: bool) -> pluggy.PluginManager:
    return get_plugin_manager(autoload=False if no_plugins else None)


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def exit_code_of(result: ExerciseResult) -> ExitCode:
    """Map a grading result to the process exit code."""
    if result.status is Status.error:
        return ExitCode.INTERNAL_ERROR
    return ExitCode.OK if result.status is Status.passed else ExitCode.BELOW_FULL_MARKS


def cmd_grade(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade EXERCISE_DIR [options]``."""
    args = grade_parser().parse_args(argv)
    pm = _manager(args.no_plugins)
    formats = reporters(pm)
    reporter = formats.get(args.format)
    if reporter is None:
        _error(f"unknown --format {args.format!r}; choose from {', '.join(formats.names())}")
        return ExitCode.USAGE_ERROR
    if hasattr(reporter, "color"):
        reporter.color = (
            args.output is None
            and not args.no_color
            and "NO_COLOR" not in os.environ
            and sys.stdout.isatty()
        )
    try:
        loaded = load_exercise(args.exercise, pm)
    except SpecError as exc:
        _error(str(exc))
        return ExitCode.USAGE_ERROR
    submission = Path(args.submission) if args.submission else loaded.directory
    options = Options(jobs=args.jobs, timeout=args.timeout, limits=limits_from_args(args))
    try:
        result = grade(loaded, submission, pm, options)
    except SubmissionError as exc:
        _error(str(exc))
        return ExitCode.USAGE_ERROR
    except Exception as exc:  # the grader's own bug: report it as a result, exit 3
        result = internal_error(loaded.spec.id, submission, exc)
    _write(reporter.render(result), args.output)
    return exit_code_of(result)


def cmd_schema(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade schema``: JSON Schema of exercise.toml, with every registered kind."""
    parser = argparse.ArgumentParser(prog="ipcgrade schema", description=cmd_schema.__doc__)
    parser.add_argument("--no-plugins", action="store_true")
    args = parser.parse_args(argv)
    schema = exercise_model(_manager(args.no_plugins)).model_json_schema()
    schema["title"] = "ipcgrader exercise.toml"
    print(json.dumps(schema, indent=2, ensure_ascii=False))
    return ExitCode.OK


def cmd_list(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade list [DIR...]``: exercises in DIRs (default ./exercises) and plugins."""
    parser = argparse.ArgumentParser(prog="ipcgrade list", description=cmd_list.__doc__)
    parser.add_argument("dirs", nargs="*", metavar="DIR")
    parser.add_argument("--no-plugins", action="store_true")
    args = parser.parse_args(argv)
    pm = _manager(args.no_plugins)
    roots = [Path(d) for d in args.dirs] or [Path("exercises")]
    folders: list[tuple[Path, str]] = []
    for root in roots:
        if (root / "exercise.toml").is_file():
            folders.append((root, "folder"))
        elif root.is_dir():
            folders.extend((p.parent, "folder") for p in sorted(root.glob("*/exercise.toml")))
    folders.extend((p, "plugin") for p in plugin_exercises(pm))
    if not folders:
        _error("no exercises found (give a folder that holds <id>/exercise.toml)")
        return ExitCode.USAGE_ERROR
    code = ExitCode.OK
    for folder, origin in folders:
        try:
            spec = load_exercise(folder, pm).spec
            print(f"{spec.id:<16} {spec.title}  ({folder}, {origin})")
        except SpecError as exc:
            print(f"{folder.name:<16} INVALID: {exc.problems[0]}  ({folder}, {origin})")
            code = ExitCode.USAGE_ERROR
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``ipcgrade`` with ``argv`` and return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args and args[0] in SUBCOMMANDS:
            command = args[0]
            if command == "schema":
                return cmd_schema(args[1:])
            if command == "list":
                return cmd_list(args[1:])
            if command == "batch":
                from ipcgrader.batch_cli import cmd_batch

                return int(cmd_batch(args[1:]))
            from ipcgrader.doctor import cmd_doctor

            return int(cmd_doctor(args[1:]))
        return cmd_grade(args)
    except SystemExit as exc:  # argparse: --help is 0, bad usage is 2
        return int(exc.code) if isinstance(exc.code, int) else ExitCode.USAGE_ERROR
    except PluginError as exc:
        _error(f"plugin error: {exc}")
        return ExitCode.USAGE_ERROR
    except KeyboardInterrupt:
        _error("interrupted")
        return 130


def console_main() -> None:
    """Entry point of the ``ipcgrade`` console script."""
    sys.exit(main())
