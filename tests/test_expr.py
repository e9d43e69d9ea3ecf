"""Expected values as expressions of scenario parameters; nothing else is allowed."""

from __future__ import annotations

import pytest

from ipcgrader.expr import ExpressionError, evaluate, resolve

PARAMS = {"tickets": 1, "buyers": 6, "items": [1, 2, 3], "word": "abc"}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("min(tickets, buyers)", 1),
        ("max(0, tickets - buyers)", 0),
        ("buyers * 2 // 4", 3),
        ("len(items) + sum(items)", 9),
        ("items", [1, 2, 3]),
        ("upper(word)", "ABC"),
        ("-tickets", -1),
        ("buyers > tickets", True),
        ("buyers > tickets and len(items) == 3", True),
        ("tickets == 0 or not items", False),
    ],
)
def test_allowed(source: str, value: object) -> None:
    assert evaluate(source, PARAMS) == value


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('true')",
        "tickets.__class__",
        "open('x')",
        "nosuchname + 1",
        "[x for x in items]",
        "lambda: 1",
        "1 +",
    ],
)
def test_rejected(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source, PARAMS)


def test_resolve_passes_numbers_through() -> None:
    assert resolve(3, PARAMS) == 3
    assert resolve("tickets + 1", PARAMS) == 2
