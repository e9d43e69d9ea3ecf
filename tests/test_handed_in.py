"""Findings name the student's file as handed in, not the exercise's entry name."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from conftest import EXERCISES, SUBMISSIONS


def test_findings_use_the_handed_in_file_name(ipcgrade: Any, tmp_path: Path) -> None:
    handed_in = tmp_path / "my_joins.py"
    shutil.copyfile(SUBMISSIONS / "join_order" / "wrong_args.py", handed_in)
    result = ipcgrade(EXERCISES / "join_order", handed_in)
    found = [d for d in result.diagnostics if d.kind == "wrong_args"]
    assert found and all(d.file == "my_joins.py" for d in found)
    assert "my_joins.py:20" in found[0].message
    texts = [d.message for d in result.diagnostics] + [c.message for c in result.checks]
    assert not any("joins.py" in t.replace("my_joins.py", "") for t in texts), texts
