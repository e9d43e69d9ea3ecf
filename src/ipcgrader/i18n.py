"""Every sentence the grader writes goes through here, so it can be said in the student's
language (Chinese and English are both first-class).

Mark a message at its point of use with :func:`_` and give it named placeholders, so a
translation can reorder them::

    _("{file} is read at line {line} while no lock is held").format(file=f, line=n)

Never build a message from fragments or an f-string inside ``_()``; plurals go through
:func:`ngettext`; :func:`N_` marks a module-level constant whose translation is looked up
later with :func:`_`. Catalogs are standard gettext (``locale/<lang>/LC_MESSAGES``, domain
``ipcgrader``); English is the source language, so a missing catalog or message falls back
to it. After adding or changing messages run ``python tools/catalogs.py`` (docs/i18n.md).
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

DOMAIN = "ipcgrader"
LOCALE_DIR = Path(__file__).parent / "locale"
#: Languages with a catalog (English is the source language and needs none).
LANGUAGES = ("en", "zh")
DEFAULT = "en"

_current = DEFAULT
#: A language set for one context only (:func:`use_language`): a batch renders each
#: student's feedback in the course's language while other threads keep theirs. Threads
#: start with no value, so they speak the process-wide language.
_context: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "ipcgrader_language", default=None
)
_catalogs: dict[str, gettext.NullTranslations] = {}


def _catalog(lang: str) -> gettext.NullTranslations:
    catalog = _catalogs.get(lang)
    if catalog is None:
        catalog = gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[lang], fallback=True)
        _catalogs[lang] = catalog
    return catalog


def normalize(value: str) -> str | None:
    """The grader's language for a locale name (``zh_CN.UTF-8``, ``zh-Hans``, ``en``),
    or None if it speaks no such language."""
    code = value.split(".")[0].split("@")[0].split("_")[0].split("-")[0].lower()
    return code if code in LANGUAGES else None


def language_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, first
    one set wins, as in POSIX), if the grader speaks it; English otherwise."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            return normalize(value) or DEFAULT
    return DEFAULT


def set_language(lang: str | None) -> str:
    """Speak ``lang`` from now on (None: from the environment); returns the language used.

    A process-wide setting on purpose: one command grades in one language, and the gradings
    of a batch run in threads that must all speak it.
    """
    global _current
    chosen = language_from_env() if lang is None else normalize(lang)
    if chosen is None:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    _catalog(chosen)
    _current = chosen
    return chosen


@contextlib.contextmanager
def use_language(lang: str) -> Iterator[str]:
    """Speak ``lang`` inside the ``with`` block, in this thread (or task) only."""
    chosen = normalize(lang)
    if chosen is None:
        raise ValueError(f"unknown language {lang!r}; choose from {', '.join(LANGUAGES)}")
    token = _context.set(chosen)
    try:
        yield chosen
    finally:
        _context.reset(token)


def language() -> str:
    """The language messages are written in now."""
    return _context.get() or _current


def _(message: str) -> str:
    """``message`` in the current language (the English text when it has no translation)."""
    return _catalog(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the current language."""
    return _catalog(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (module constants)."""
    return message
