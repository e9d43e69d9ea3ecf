"""Regenerate the generated parts of docs/authoring.md: the field reference (from the
models) and the table of common mistakes (from the broken-exercise corpus, tests/broken).

    .venv/bin/python tools/authoring_reference.py          # rewrite both blocks
    .venv/bin/python tools/authoring_reference.py --check  # exit 1 if either is out of date

Uses the builtin expectation kinds only (installed plugins are not loaded)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ipcgrader.i18n import set_language
from ipcgrader.loader import SpecError, load_exercise
from ipcgrader.plugins import expectation_kinds, get_plugin_manager
from ipcgrader.reference import reference_markdown, replace_block

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "authoring.md"
CORPUS = Path("tests") / "broken"
MISTAKES_BEGIN = "<!-- BEGIN GENERATED MISTAKES (tools/authoring_reference.py) -->"
MISTAKES_END = "<!-- END GENERATED MISTAKES -->"


def mistakes_markdown() -> str:
    """One row per broken exercise: the mistake and the message ``ipcgrade`` gives."""
    rows = ["| mistake | what `ipcgrade` says (exit 2, nothing is graded) |", "|---|---|"]
    before = Path.cwd()
    os.chdir(ROOT)  # relative paths in the messages, the same on every machine
    try:
        for case in sorted(p.parent for p in CORPUS.glob("*/mistake.toml")):
            note = (case / "mistake.toml").read_text(encoding="utf-8").splitlines()[0]
            try:
                load_exercise(case, get_plugin_manager(autoload=False))
            except SpecError as exc:
                said = f"{exc.path}: " + " / ".join(exc.problems)
            else:  # pragma: no cover - the corpus test fails first
                said = "(accepted!)"
            said = " ".join(said.replace("|", "\\|").split())
            rows.append(f"| {note.lstrip('# ')} (`{case.name}`) | `{said}` |")
    finally:
        os.chdir(before)
    return "\n".join(rows) + "\n"


def current() -> tuple[str, str]:
    """(the document as it is, the document as it should be)."""
    set_language("en")
    text = DOC.read_text(encoding="utf-8")
    kinds = list(expectation_kinds(get_plugin_manager(autoload=False)))
    wanted = replace_block(text, reference_markdown(kinds))
    start = wanted.index(MISTAKES_BEGIN) + len(MISTAKES_BEGIN)
    end = wanted.index(MISTAKES_END)
    wanted = wanted[:start] + "\n\n" + mistakes_markdown() + "\n" + wanted[end:]
    return text, wanted


def main() -> int:
    text, wanted = current()
    if text == wanted:
        print("docs/authoring.md: generated parts up to date")
        return 0
    if "--check" in sys.argv:
        print("docs/authoring.md: generated parts out of date; run tools/authoring_reference.py")
        return 1
    DOC.write_text(wanted, encoding="utf-8")
    print("docs/authoring.md: generated parts rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
