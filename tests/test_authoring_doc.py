"""docs/authoring.md cannot drift: its reference is generated from the models and its table
of common mistakes from the broken-exercise corpus; both must be current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import ROOT


def test_the_generated_parts_of_authoring_md_are_current() -> None:
    path = ROOT / "tools" / "authoring_reference.py"
    spec = importlib.util.spec_from_file_location("authoring_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text, wanted = module.current()
    assert text == wanted, "docs/authoring.md is out of date: run tools/authoring_reference.py"
    for kind in ("no_race", "final_json", "children_ok", "json_value"):
        assert f'### kind = "{kind}"' in text
    assert "allow_exit_codes" in text and "occurrence" in text


def test_no_file_points_outside_the_repository() -> None:
    # the repository stands alone: no design notes or shared folders beside the checkout
    offenders = []
    for path in [
        *ROOT.glob("*.md"),
        *ROOT.glob("docs/*.md"),
        *ROOT.glob("src/**/*.py"),
        *ROOT.glob("tests/*.py"),
        *ROOT.glob("tests/**/*.md"),
    ]:
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        if "DESIGN" + ".md" in text or "../" + "shared" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders
