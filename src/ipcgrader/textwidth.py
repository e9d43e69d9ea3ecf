"""Text laid out by display width: a CJK character takes two terminal columns, so wrapping
by character count (``textwrap``) lets Chinese lines overflow the terminal."""

from __future__ import annotations

import re
import unicodedata

#: Where a line may be broken: between words, and between any two CJK characters.
_TOKENS = re.compile(
    r"\s+|[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[^\s\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]+"
)
#: Never at the start of a line (Chinese line-breaking rules): closing punctuation.
_NO_LINE_START = set("，。、；：！？）」』》〉”’,.;:!?)]}")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def char_width(char: str) -> int:
    """Columns one character takes: 2 for wide and full-width (CJK), 0 for combining."""
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (colour escapes take none)."""
    return sum(char_width(c) for c in _ANSI.sub("", text))


def _split_long(token: str, room: int) -> tuple[str, str]:
    """The longest head of ``token`` that fits in ``room`` columns, and the rest."""
    used = 0
    for index, char in enumerate(token):
        used += char_width(char)
        if used > room:
            return token[: max(index, 1)], token[max(index, 1) :]
    return token, ""


def wrap(text: str, columns: int, first: str = "", rest: str | None = None) -> list[str]:
    """``text`` in lines of at most ``columns`` display columns, the first one starting with
    ``first``, the others with ``rest`` (default: as many spaces as ``first`` is wide)."""
    rest = " " * width(first) if rest is None else rest
    lines: list[str] = []
    line, used = first, width(first)
    indent_width = width(rest)
    empty = True
    for token in _TOKENS.findall(text):
        if token.isspace():
            if not empty:
                line, used = line + " ", used + 1
            continue
        size = width(token)
        fits = used + size <= columns or empty
        if not fits and token[0] in _NO_LINE_START and size <= 2:
            fits = True  # keep closing punctuation on its line, one column over at most
        if not fits:
            lines.append(line.rstrip())
            line, used, empty = rest, indent_width, True
        while used + size > columns and size > columns - indent_width:
            head, token = _split_long(token, columns - used)
            lines.append(line + head)
            line, used = rest, indent_width
            size = width(token)
        line, used, empty = line + token, used + size, False
    if not empty or not lines:
        lines.append(line.rstrip())
    return lines


def pad(text: str, columns: int) -> str:
    """``text`` followed by spaces up to ``columns`` display columns."""
    return text + " " * max(0, columns - width(text))
