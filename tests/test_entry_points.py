"""The command's start-up reads installed entry points without ``importlib.metadata``
unless some distribution declares a group it loads (``ipcgrader.entry_points``)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ipcgrader.entry_points import declared_groups, may_declare

#: In a fresh interpreter: import the models and build the plugin manager, then say
#: whether importlib.metadata was imported and which pydantic plugin loader is in use.
PROBE = (
    "import sys; import ipcgrader.models, ipcgrader.plugins as p; p.get_plugin_manager(); "
    "print('importlib.metadata' in sys.modules, "
    "getattr(sys.modules['pydantic.plugin._loader'], '__file__', None) is not None)"
)


def _distribution(folder: Path, groups: str) -> None:
    dist = folder / "demo-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(groups, encoding="utf-8")


def test_the_groups_of_dist_info_folders_are_found(tmp_path: Path) -> None:
    _distribution(tmp_path, "[console_scripts]\ndemo = demo:main\n\n[ipcgrader]\nd = demo\n")
    assert declared_groups([str(tmp_path)]) == {"console_scripts", "ipcgrader"}
    assert declared_groups([str(tmp_path / "missing")]) == set()


def test_a_zip_on_the_path_leaves_it_to_importlib_metadata(tmp_path: Path) -> None:
    archive = tmp_path / "eggs.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("x.py", "")
    assert declared_groups([str(archive)]) is None
    sys.path.insert(0, str(archive))
    try:
        assert may_declare("anything")
    finally:
        sys.path.remove(str(archive))


def _probe(tmp_path: Path, extra_path: Path | None = None) -> list[str]:
    env_path = [str(extra_path)] if extra_path else []
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(env_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.split()


def test_start_up_does_not_scan_distributions_when_none_declares_a_group(tmp_path: Path) -> None:
    if may_declare("pydantic") or may_declare("ipcgrader"):
        pytest.skip("an installed distribution declares pydantic or ipcgrader plugins")
    assert _probe(tmp_path) == ["False", "False"]


def test_a_declared_pydantic_plugin_group_gets_the_real_loader(tmp_path: Path) -> None:
    _distribution(tmp_path / "site", "[pydantic]\nnothing = no_such_module\n")
    seen = _probe(tmp_path, tmp_path / "site")
    assert seen[0] == "True"  # pydantic scanned (and warned about the unimportable plugin)
    assert seen[1] == "True"
