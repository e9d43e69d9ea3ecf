"""ipcgrader: grade Python process-communication exercises from a trace, not from luck.

Plugins import only what this module exports: the ``hookimpl`` marker (plus the models and
results they work with). Everything else is the host's business.
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]

__version__ = "0.1.0"
PROJECT_NAME = "ipcgrader"

#: Mark a function or method as an implementation of an ipcgrader hook.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
