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

What :func:`_` returns is a :class:`Text`: a ``str`` that also remembers how it was made
(message id and the placeholders' values, themselves texts). Results keep that
:attr:`Text.source`, so a stored grading can be rendered again in another language
(``ipcgrade report --lang zh``) without grading again. Concatenating texts gives a plain
``str`` that is said only in the language it was made in: format whole sentences instead.
"""

from __future__ import annotations

import contextlib
import contextvars
import gettext
import os
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

DOMAIN = "ipcgrader"
#: ``{key}`` in an exercise's message, filled with an observed value (checks/observed.py)
_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
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


#: How a text was made, JSON-serialisable: a literal (str, number, None); ``{"msg": id,
#: "args": {name: source}}``; ``{"msg": [singular, plural], "n": n, "args": ...}``; or
#: ``{"texts": {lang: text}}`` (an exercise's own text, written per language);
#: ``{"join": [source, ...], "sep": separator}`` (see :func:`join`).
Source = Any


class Text(str):
    """A message in the current language that remembers its :data:`Source`, so it can be
    said again in another language with :func:`render`."""

    source: Source

    def __new__(cls, value: str, source: Source) -> Text:
        text = super().__new__(cls, value)
        text.source = source
        return text

    def format(self, *args: object, **kwargs: object) -> str:
        """``str.format`` that keeps the placeholders' values (named ones only)."""
        formatted = str.format(self, *args, **kwargs)
        if args or not isinstance(self.source, dict) or "args" in self.source:
            return formatted
        values = {name: source_of(value) for name, value in kwargs.items()}
        return Text(formatted, {**self.source, "args": values})

    def __reduce__(self) -> tuple[Any, ...]:
        return (Text, (str(self), self.source))


def source_of(value: object) -> Source:
    """What :func:`render` needs to say ``value`` again: a text's source, else the value
    (numbers kept as numbers, for format specs like ``{seconds:.1f}``)."""
    if isinstance(value, Text):
        return value.source
    if value is None or isinstance(value, (str, int, float)):
        return value if type(value) in (str, int, float, bool) or value is None else str(value)
    return str(value)


def pick(texts: Mapping[str, str], lang: str | None = None) -> str:
    """The text for ``lang`` (default: the current language) from per-language texts, else
    English, else the first one given."""
    wanted = lang or language()
    if wanted in texts:
        return texts[wanted]
    if DEFAULT in texts:
        return texts[DEFAULT]
    return next(iter(texts.values()), "")


def localized(texts: Mapping[str, str]) -> Text:
    """An exercise's own text given per language (``{en = ..., zh = ...}``), as a text in
    the current language that can be said in the others."""
    return Text(pick(texts), {"texts": dict(texts)})


def join(parts: list[str], separator: str = "\n") -> str:
    """``separator.join(parts)`` that each part keeps its language (a report's lines, a
    list of translated items)."""
    joined = separator.join(parts)
    return Text(joined, {"join": [source_of(p) for p in parts], "sep": separator})


def map_values(source: Source, change: Callable[[str], str]) -> Source:
    """``source`` with ``change`` applied to every text value in it (placeholder values,
    exercise texts, joined parts), never to a message id: the same edit a caller made to
    the rendered text, made so that it survives rendering in another language."""
    if isinstance(source, str):
        return change(source)
    if not isinstance(source, dict):
        return source
    changed = dict(source)
    if isinstance(source.get("args"), dict):
        changed["args"] = {k: map_values(v, change) for k, v in source["args"].items()}
    if isinstance(source.get("texts"), dict):
        changed["texts"] = {k: change(v) for k, v in source["texts"].items()}
    if isinstance(source.get("join"), list):
        changed["join"] = [map_values(v, change) for v in source["join"]]
    if isinstance(source.get("fill"), dict):
        changed["fill"] = {k: change(str(v)) for k, v in source["fill"].items()}
    return changed


def render(source: Source) -> str:
    """Say a text again from its :data:`Source`, in the current language. A source this
    version cannot read is said as it was stored (never an error in a report)."""
    if isinstance(source, dict):
        texts = source.get("texts")
        if isinstance(texts, dict):
            text = pick(texts)
            args = source.get("args")
            if isinstance(args, dict):
                with contextlib.suppress(KeyError, IndexError, ValueError, TypeError):
                    text = text.format(**{k: _value(v) for k, v in args.items()})
            fill = source.get("fill")
            if isinstance(fill, dict):
                text = _FIELD.sub(lambda m: str(fill.get(m[1], m[0])), text)
            return text
        parts = source.get("join")
        if isinstance(parts, list):
            return str(source.get("sep", "\n")).join(render(p) for p in parts)
        msg = source.get("msg")
        if isinstance(msg, list) and len(msg) == 2:
            template = ngettext(str(msg[0]), str(msg[1]), int(source.get("n", 1)))
        elif isinstance(msg, str):
            template = _(msg)
        else:
            return str(source)
        args = source.get("args")
        if not isinstance(args, dict):
            return str(template)
        try:
            return str.format(template, **{k: _value(v) for k, v in args.items()})
        except (KeyError, IndexError, ValueError, TypeError):
            # a translation that does not fit its message: say it in English
            english = str(msg if isinstance(msg, str) else msg[0])
            try:
                return english.format(**{k: _value(v) for k, v in args.items()})
            except (KeyError, IndexError, ValueError, TypeError):
                return english
    return "" if source is None else str(source)


def _value(source: Source) -> object:
    return source if isinstance(source, (int, float)) or source is None else render(source)


def _(message: str) -> str:
    """``message`` in the current language (the English text when it has no translation)."""
    return Text(_catalog(language()).gettext(message), {"msg": message})


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form of a message for ``n``, in the current language."""
    return Text(
        _catalog(language()).ngettext(singular, plural, n), {"msg": [singular, plural], "n": n}
    )


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it now (module constants)."""
    return message
