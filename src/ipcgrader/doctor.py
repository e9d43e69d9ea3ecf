"""``ipcgrade doctor``: what isolation this host gives student runs, truthfully."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ipcgrader import sandbox


def cmd_doctor(argv: Sequence[str]) -> int:
    """Print the isolation layers that runs on this host get."""
    parser = argparse.ArgumentParser(prog="ipcgrade doctor", description=cmd_doctor.__doc__)
    parser.parse_args(argv)
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    prefix = sandbox.namespace_prefix()
    print("isolation layers used for every run:")
    for layer in sandbox.isolation_layers():
        print(f"  - {layer}")
    if not prefix:
        print("  (no PID namespace: unshare is missing or not permitted here)")
    return 0
