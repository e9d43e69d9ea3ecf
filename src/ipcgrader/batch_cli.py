"""``ipcgrade batch``: grade many submissions (placeholder until batch grading lands)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def cmd_batch(argv: Sequence[str]) -> int:
    """Not implemented yet."""
    print("ipcgrade: error: batch grading is not available yet", file=sys.stderr)
    return 2
