"""Keep the message catalogs in step with the code: ``python tools/catalogs.py``.

One command does everything after messages were added or changed (docs/i18n.md):

1. extract every ``_()``, ``ngettext()`` and ``N_()`` message from ``src/ipcgrader``;
2. update ``src/ipcgrader/locale/<lang>/LC_MESSAGES/ipcgrader.po`` for every language: new
   messages are added untranslated, removed ones dropped;
3. compile each ``.po`` into its ``.mo`` (what the grader reads at run time);
4. list the messages that still lack a translation (exit status 1 if any).

``python tools/catalogs.py --check`` changes nothing and reports what is stale; the test
suite runs the same check (tests/test_i18n.py). The ``.po`` files are written so that
parallel edits merge cleanly: sorted by message, file names without line numbers, a fixed
header. After a ``git merge`` that conflicts in a catalog, ``python tools/catalogs.py
--resolve`` keeps both sides' translations, updates, compiles and stages the result.

Needs Babel (in the ``test`` extra).
"""

from __future__ import annotations

import argparse
import datetime
import io
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ipcgrader"
LOCALE_DIR = PACKAGE / "locale"
DOMAIN = "ipcgrader"
#: Languages with a catalog: English is the source language.
TRANSLATED = ("zh",)
KEYWORDS = {"_": None, "ngettext": (1, 2), "N_": None}
#: Fixed header dates: a date that changed on every update would conflict on every merge.
EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
HEADER = (
    "# {lang} messages of ipcgrader, the grader of process-communication exercises.\n"
    "# Update after changing messages: python tools/catalogs.py (docs/i18n.md).\n#"
)
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)[^{}]*\}")


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def _skip_dir(path: str) -> bool:
    # harness/inject runs inside the student's process and writes no message of ours
    return "inject" not in Path(path).parts and "__pycache__" not in Path(path).parts


def extract() -> Catalog:
    """Every message marked in the package's source."""
    template = Catalog(domain=DOMAIN, project="ipcgrader", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE),
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
        directory_filter=_skip_dir,
    ):
        template.add(
            message,
            None,
            [(f"src/ipcgrader/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return template


def load(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.exists():
        return Catalog(locale=lang, domain=DOMAIN, project="ipcgrader", fuzzy=False)
    with path.open("rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def po_bytes(catalog: Catalog) -> bytes:
    catalog.creation_date = EPOCH
    catalog.revision_date = EPOCH
    catalog.fuzzy = False
    catalog.header_comment = HEADER.format(lang=catalog.locale_identifier)
    out = io.BytesIO()
    write_po(out, catalog, width=100, sort_output=True, ignore_obsolete=True, include_lineno=False)
    return out.getvalue()


def mo_bytes(catalog: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def _ids(catalog: Catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, str)]
    return []


def placeholders(texts: Iterable[str]) -> set[str]:
    return {name for text in texts for name in PLACEHOLDER.findall(text)}


def problems(lang: str, template: Catalog | None = None) -> list[str]:
    """What is wrong with ``lang``'s catalog: stale, untranslated, placeholders that differ
    from the English, or a ``.mo`` that is not the compiled ``.po``. Empty when all is well."""
    template = extract() if template is None else template
    found: list[str] = []
    path = po_path(lang)
    if not path.exists():
        return [f"{path.relative_to(ROOT)} is missing"]
    catalog = load(lang)
    wanted, have = _ids(template), _ids(catalog)
    for msgid in sorted(wanted - have):
        found.append(f"{lang}: not in the catalog (stale .po): {msgid!r}")
    for msgid in sorted(have - wanted):
        found.append(f"{lang}: in the catalog but no longer in the code: {msgid!r}")
    for message in catalog:
        if not message.id:
            continue
        translations = _texts(message.string)
        if message.fuzzy or not translations or not all(t.strip() for t in translations):
            found.append(f"{lang}: no translation: {message.id!r}")
            continue
        english = placeholders(_texts(message.id))
        if placeholders(translations) != english:
            found.append(
                f"{lang}: placeholders differ ({sorted(english)} in English): {message.id!r}"
            )
    mo = mo_path(lang)
    if not mo.exists() or mo.read_bytes() != mo_bytes(catalog):
        found.append(f"{mo.relative_to(ROOT)} is not the compiled .po (out of date)")
    if path.read_bytes() != po_bytes(catalog):
        found.append(f"{path.relative_to(ROOT)} is not in its canonical form (run the update)")
    return found


def update(lang: str, template: Catalog) -> None:
    """Bring ``lang``'s ``.po`` in step with ``template`` and compile its ``.mo``."""
    catalog = load(lang)
    catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
    catalog.obsolete.clear()
    path = po_path(lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(po_bytes(catalog))
    # compile what was written, read back, so the .mo is exactly the .po on disk
    mo_path(lang).write_bytes(mo_bytes(load(lang)))


def resolve_conflict(lang: str) -> bool:
    """After a ``git merge`` that conflicted in ``lang``'s catalog: keep every translation of
    both sides (ours where both translated a message differently). False if no conflict."""
    path = po_path(lang).relative_to(ROOT).as_posix()
    sides = []
    for stage in (3, 2):  # theirs first, so ours wins
        shown = subprocess.run(
            ["git", "show", f":{stage}:{path}"], cwd=ROOT, capture_output=True, check=False
        )
        if shown.returncode != 0:
            return False
        sides.append(read_po(io.BytesIO(shown.stdout), locale=lang, domain=DOMAIN))
    merged = sides[1]
    for message in sides[0]:
        if not message.id or not any(_texts(message.string)):
            continue
        mine = merged.get(message.id)
        if mine is None:
            merged[message.id] = message
        elif not any(_texts(mine.string)):
            mine.string = message.string
    po_path(lang).write_bytes(po_bytes(merged))
    for suffix in (".po", ".mo"):
        subprocess.run(
            ["git", "add", str(po_path(lang).with_suffix(suffix))], cwd=ROOT, check=False
        )
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="change nothing, report problems")
    parser.add_argument(
        "--resolve",
        action="store_true",
        help="after a git merge conflict in a catalog: keep both sides' translations, update",
    )
    args = parser.parse_args(argv)
    if args.resolve:
        for lang in TRANSLATED:
            if resolve_conflict(lang):
                print(f"{lang}: merged both sides' translations")
    template = extract()
    if not args.check:
        for lang in TRANSLATED:
            update(lang, template)
        if args.resolve:
            for lang in TRANSLATED:
                for path in (po_path(lang), mo_path(lang)):
                    subprocess.run(["git", "add", str(path)], cwd=ROOT, check=False)
    found = [problem for lang in TRANSLATED for problem in problems(lang, template)]
    for problem in found:
        print(problem)
    total = len(_ids(template))
    if found:
        print(f"{len(found)} problem(s); {total} messages. Translate in the .po, then run again.")
        return 1
    print(f"catalogs up to date: {total} messages, {', '.join(TRANSLATED)} translated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
