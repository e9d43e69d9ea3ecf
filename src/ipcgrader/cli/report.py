"""``ipcgrade report RESULT.json``: render a stored grading again, in any format and
language, without grading again (a batch's ``results/<student>/<exercise>.json``, or what
``--format json`` wrote)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from ipcgrader.cli.common import (
    ExitCode,
    Parser,
    add_language_argument,
    error,
    manager,
    reporter_named,
    write_output,
)
from ipcgrader.i18n import _, language
from ipcgrader.plugins import reporters
from ipcgrader.reporters.json_report import load_result


def report_parser() -> argparse.ArgumentParser:
    """Parser of ``ipcgrade report``."""
    parser = Parser(
        prog="ipcgrade report",
        description=_("Render a stored grading result again, in any format and language."),
    )
    parser.add_argument("result", metavar="RESULT.json", help=_("a grading result in JSON"))
    parser.add_argument("--format", default="terminal", help=_("report format (default: terminal)"))
    parser.add_argument("--output", "-o", metavar="FILE", help=_("write the report to FILE"))
    parser.add_argument(
        "--no-plugins", action="store_true", help=_("do not load plugins of installed packages")
    )
    add_language_argument(parser)
    return parser


def cmd_report(argv: Sequence[str]) -> ExitCode:
    """``ipcgrade report RESULT.json [--format F] [--lang L] [-o FILE]``."""
    args = report_parser().parse_args(argv)
    formats = reporters(manager(args.no_plugins))
    reporter = reporter_named(formats, args.format)
    if reporter is None:
        return ExitCode.USAGE_ERROR
    path = Path(args.result)
    try:
        result = load_result(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        error(_("cannot read {file}: {problem}").format(file=path, problem=exc.strerror or exc))
        return ExitCode.USAGE_ERROR
    except (ValidationError, ValueError):
        error(_("{file} is not a grading result (JSON from ipcgrade)").format(file=path))
        return ExitCode.USAGE_ERROR
    write_output(reporter.render(result.in_language(language())), args.output)
    return ExitCode.OK
