"""Which entry-point groups the installed distributions declare, found without
``importlib.metadata``.

Importing ``importlib.metadata`` and scanning every distribution costs 30-80 ms of CPU, at
every start of the command: pydantic does it when the first model is built (to load its
plugins, group ``pydantic``), pluggy when the grader loads its own (group ``ipcgrader``).
Reading the ``entry_points.txt`` of the ``*.dist-info`` and ``*.egg-info`` folders on
``sys.path`` tells, for a millisecond, whether any distribution declares a group at all;
only then is the real loader used. Where the look cannot be sure (a zip file on
``sys.path``), it says so and the real loader runs as before.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Iterable

#: pydantic's own switch (``PYDANTIC_DISABLE_PLUGINS``): when set, pydantic decides.
PYDANTIC_SWITCH = "PYDANTIC_DISABLE_PLUGINS"
_PYDANTIC_LOADER = "pydantic.plugin._loader"


def declared_groups(path: Iterable[str] | None = None) -> frozenset[str] | None:
    """Every entry-point group some distribution on ``path`` (default ``sys.path``)
    declares; None when that cannot be known this way."""
    groups: set[str] = set()
    for entry in list(sys.path if path is None else path):
        folder = entry or "."
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            return None  # a zip: its distributions are importlib.metadata's to find
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), "rb") as handle:
                    text = handle.read()
            except OSError:
                continue
            for line in text.splitlines():
                line = line.strip()
                if line.startswith(b"[") and line.endswith(b"]"):
                    groups.add(line[1:-1].strip().decode("utf-8", "replace"))
    return frozenset(groups)


def may_declare(group: str) -> bool:
    """Whether some installed distribution may declare the entry-point ``group``."""
    groups = declared_groups()
    return groups is None or group in groups


def skip_pydantic_plugin_scan() -> None:
    """Before the first pydantic model is built: when no distribution declares pydantic
    plugins, give pydantic an empty plugin list (what its loader would find) without its
    ``importlib.metadata`` scan. Does nothing once pydantic's loader is imported, when
    ``PYDANTIC_DISABLE_PLUGINS`` is set (pydantic's own switch), or when plugins may exist."""
    if _PYDANTIC_LOADER in sys.modules or PYDANTIC_SWITCH in os.environ:
        return
    if may_declare("pydantic"):
        return
    loader = types.ModuleType(_PYDANTIC_LOADER, "No pydantic plugin is installed.")
    loader.PYDANTIC_ENTRY_POINT_GROUP = "pydantic"  # type: ignore[attr-defined]
    loader.get_plugins = lambda: ()  # type: ignore[attr-defined]
    sys.modules[_PYDANTIC_LOADER] = loader
