"""The trace of a run: what every process of a student's program did, and analyses of it.

The harness (``ipcgrader/harness/inject``) appends one JSON event per line to a trace file;
:func:`read_trace` turns it into a :class:`Trace`. Checks get the parsed trace of a run with
:func:`trace_of`. The event format and this API are documented in ``docs/trace.md``; both are
stable: plugins build their own analyses on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ipcgrader.trace.analyses import (
    Access,
    AtomicityViolation,
    Race,
    accesses,
    atomicity_violations,
    crashed_children,
    find_races,
    overlapping_workers,
    read_modify_writes,
    serialised_workers,
    unused_locks,
)
from ipcgrader.trace.events import Event, LockInfo, ProcessInfo, Trace, parse_trace, read_trace
from ipcgrader.trace.hang import (
    Blocked,
    WaitForGraph,
    WaitNode,
    blocked_processes,
    diagnose_hang,
    wait_for_graph,
)

if TYPE_CHECKING:
    from ipcgrader.results import RunRecord

__all__ = [
    "TRACE_ARTIFACT",
    "TRACE_FILE",
    "WAIT_FOR_ARTIFACT",
    "Access",
    "AtomicityViolation",
    "Blocked",
    "Event",
    "LockInfo",
    "ProcessInfo",
    "Race",
    "Trace",
    "WaitForGraph",
    "WaitNode",
    "accesses",
    "atomicity_violations",
    "blocked_processes",
    "crashed_children",
    "diagnose_hang",
    "find_races",
    "overlapping_workers",
    "parse_trace",
    "read_modify_writes",
    "read_trace",
    "serialised_workers",
    "trace_of",
    "unused_locks",
    "wait_for_graph",
]
#: Key of the :class:`WaitForGraph` (as plain data) in ``RunRecord.artifacts`` of a run
#: stopped as deadlocked.
WAIT_FOR_ARTIFACT = "wait_for"

#: Name of the trace file in a run's private ``meta_dir``.
TRACE_FILE = "trace.jsonl"
#: Key of the parsed :class:`Trace` in ``RunRecord.artifacts``.
TRACE_ARTIFACT = "trace"


def trace_of(run: RunRecord) -> Trace | None:
    """The parsed trace of a run, or None when the run was not traced."""
    trace = run.artifacts.get(TRACE_ARTIFACT)
    return trace if isinstance(trace, Trace) else None
