"""Every lock_ticket variant gets the same verdict on repeated gradings (slow).

Runs ``bench/determinism_lock_ticket.py``: each variant graded ``IPCGRADER_DETERMINISM_REPEATS``
times (default 50) as shipped, and with every run under fork and under spawn. Takes a long
while: ``pytest -m slow tests/test_determinism.py``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "determinism_lock_ticket.py"


@pytest.mark.slow
def test_no_variant_flips(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("determinism_lock_ticket", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    repeats = os.environ.get("IPCGRADER_DETERMINISM_REPEATS", "50")
    summary = tmp_path / "summary.json"
    status = module.main(["--repeats", repeats, "--as-shipped", "--json", str(summary)])
    assert status == 0, summary.read_text(encoding="utf-8")
