"""ipcgrader's harness, imported by every Python process of a graded run.

Standard library only, and cheap at start-up: it runs before the student's code in the
main process, in spawn and forkserver children (which import it afresh), and is inherited
by fork children. It is configured by environment variables that the grader sets
(``ipcgrader.harness_plugin``):

- ``IPCGRADER_DILATION``: factor applied to ``time.sleep`` (0.01: one second is 10 ms);
- ``IPCGRADER_START_METHOD``: default multiprocessing start method of the run (the
  student may still choose one explicitly);
- ``IPCGRADER_WORKDIR``: the run's folder, where the student's files are;
- ``IPCGRADER_SHARED``: the exercise's shared files, relative to the run's folder,
  separated by ``os.pathsep``;
- ``IPCGRADER_ATOMIC_WRITES``: when ``1``, ``open(shared_file, "w")`` writes a temporary
  file that replaces the real one on close. Readers then never see a half-written file (a
  torn read is not what these exercises teach, and it would make a correct program fail at
  random), while lost updates, which they do teach, happen exactly as before;
- ``IPCGRADER_TRACE``: the trace file to append events to (``docs/trace.md``);
- ``IPCGRADER_WAITS``: the folder of the processes' wait boards (deadlock detection, see
  ``_ipcgrader_trace``);
- ``IPCGRADER_AMPLIFY_DIR`` and ``IPCGRADER_AMPLIFY_WAIT``: race amplification's meeting
  folder and how long a process waits there at most (seconds); queue and pipe items wait
  there for a taker's ask too (``_ipcgrader_turns``).

Output is made line-atomic in every run (``_ipcgrader_output``). The other modules: the
recorder (``_ipcgrader_trace``), shared files and amplification (``_ipcgrader_files``),
multiprocessing patches (``_ipcgrader_mp``, ``_ipcgrader_ipc``). Everything in this folder is
importable by the student's code, hence the ``_ipcgrader`` prefix.
"""

from __future__ import annotations

import os
import sys

# Not typing.TYPE_CHECKING: importing typing would slow every process start; mypy treats
# any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def _dilate_sleep(factor: float, trace: ModuleType | None) -> None:
    import time

    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        # Validate like the real sleep (TypeError, ValueError for negatives), then shrink.
        if seconds < 0:
            real_sleep(seconds)
        if trace is not None:
            trace.emit("sleep", None, None, seconds=seconds)
        real_sleep(seconds * factor)
        if seconds > 0:  # the others had their turn: a timed take waits after it
            turns = sys.modules.get("_ipcgrader_turns")
            if turns is not None:
                turns.slept()

    sleep.__doc__ = real_sleep.__doc__
    time.sleep = sleep  # type: ignore[assignment]
    time._ipcgrader_real_sleep = real_sleep  # type: ignore[attr-defined]


def _default_start_method(method: str) -> None:
    from multiprocessing import context

    # private names, read with getattr: the harness must not import typing (start-up cost)
    default = getattr(context, "_default_context")  # noqa: B009
    concrete = getattr(context, "_concrete_contexts", {})
    if getattr(default, "_actual_context", None) is None and method in concrete:
        # Replace the default without "setting" it, so the student's own
        # set_start_method() call still works as it would outside the grader.
        default._default_context = concrete[method]


def _install() -> None:
    env = os.environ
    workdir = env.get("IPCGRADER_WORKDIR") or os.getcwd()
    trace: ModuleType | None = None
    if env.get("IPCGRADER_TRACE"):
        import _ipcgrader_trace

        board = env.get("IPCGRADER_WAITS", "")
        if not _ipcgrader_trace.install(env["IPCGRADER_TRACE"], workdir, board):
            return  # multiprocessing's resource tracker: no student code runs there
        trace = _ipcgrader_trace
    factor = env.get("IPCGRADER_DILATION")
    if factor:
        _dilate_sleep(float(factor), trace)
    shared = [name for name in env.get("IPCGRADER_SHARED", "").split(os.pathsep) if name]
    atomic = env.get("IPCGRADER_ATOMIC_WRITES") == "1" and bool(shared)
    amplify = trace is not None and bool(env.get("IPCGRADER_AMPLIFY_DIR"))
    # amplification also serves shared state that is not a file (a Value, a Manager dict)
    if (shared and (atomic or trace is not None)) or amplify:
        import _ipcgrader_files

        _ipcgrader_files.install(
            workdir,
            shared,
            atomic,
            trace is not None,
            env.get("IPCGRADER_AMPLIFY_DIR"),
            float(env.get("IPCGRADER_AMPLIFY_WAIT") or 0),
        )
    import _ipcgrader_output

    _ipcgrader_output.install()
    method = env.get("IPCGRADER_START_METHOD")
    if method:
        _default_start_method(method)
    if trace is not None:
        import _ipcgrader_mp

        _ipcgrader_mp.install()


def install_harness() -> None:
    """Install what the environment asks for. Called at start-up, or, in a run forked from
    the warm interpreter (``IPCGRADER_ZYGOTE`` set there), once the run has its own
    environment."""
    try:
        _install()
    except Exception as exc:  # the harness must never break a student's program
        os.write(2, f"ipcgrader harness: {exc!r}\n".encode())


if not os.environ.get("IPCGRADER_ZYGOTE"):
    install_harness()
