"""ipcgrader's harness, imported by every Python process of a graded run.

Standard library only, and cheap at start-up: it runs before the student's code in the
main process, in spawn and forkserver children (which import it afresh), and is inherited
by fork children. It is configured by environment variables that the grader sets:

- ``IPCGRADER_DILATION``: factor applied to ``time.sleep`` (0.01: one second is 10 ms);
- ``IPCGRADER_START_METHOD``: default multiprocessing start method of the run (the
  student may still choose one explicitly);
- ``IPCGRADER_ATOMIC_WRITES``: JSON list of absolute paths (the exercise's shared files)
  whose ``open(..., "w")`` writes a temporary file that replaces the real one on close.
  Readers then never see a half-written file (a torn read is not what these exercises
  teach, and it would make a correct program fail at random), while lost updates, which
  they do teach, happen exactly as before.
"""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: importing typing would slow every process start; mypy treats
# any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any


def _dilate_sleep(factor: float) -> None:
    import time

    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        # Validate like the real sleep (TypeError, ValueError for negatives), then shrink.
        if seconds < 0:
            real_sleep(seconds)
        real_sleep(seconds * factor)

    sleep.__doc__ = real_sleep.__doc__
    time.sleep = sleep  # type: ignore[assignment]


def _default_start_method(method: str) -> None:
    from multiprocessing import context

    # private names, read with getattr: the harness must not import typing (start-up cost)
    default = getattr(context, "_default_context")  # noqa: B009
    concrete = getattr(context, "_concrete_contexts", {})
    if getattr(default, "_actual_context", None) is None and method in concrete:
        # Replace the default without "setting" it, so the student's own
        # set_start_method() call still works as it would outside the grader.
        default._default_context = concrete[method]


class _AtomicFile:
    """A file opened for writing that becomes visible under its real name when closed."""

    def __init__(self, handle: IO[Any], temporary: str, final: str) -> None:
        self._handle = handle
        self._temporary = temporary
        self._final = final
        self._done = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __iter__(self) -> Any:
        return iter(self._handle)

    def __enter__(self) -> _AtomicFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._done:
            return
        self._done = True
        self._handle.close()
        os.replace(self._temporary, self._final)

    def __del__(self) -> None:
        # not contextlib.suppress: the harness avoids imports that slow every start-up
        try:  # noqa: SIM105
            self.close()
        except Exception:
            pass


def _atomic_writes(paths: list[str]) -> None:
    import builtins
    import io

    targets = set(paths)
    real_open = builtins.open

    def open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and isinstance(file, (str, bytes, os.PathLike)):
            final = os.path.abspath(os.fsdecode(file))
            if final in targets:
                temporary = f"{final}.ipcgrader-{os.getpid()}.tmp"
                return _AtomicFile(real_open(temporary, mode, *args, **kwargs), temporary, final)
        return real_open(file, mode, *args, **kwargs)

    open.__doc__ = real_open.__doc__
    builtins.open = open
    io.open = open


def _install() -> None:
    factor = os.environ.get("IPCGRADER_DILATION")
    if factor:
        _dilate_sleep(float(factor))
    atomic = os.environ.get("IPCGRADER_ATOMIC_WRITES")
    if atomic:
        import json

        _atomic_writes(json.loads(atomic))
    method = os.environ.get("IPCGRADER_START_METHOD")
    if method:
        _default_start_method(method)


try:
    _install()
except Exception as exc:  # the harness must never break a student's program
    os.write(2, f"ipcgrader harness: {exc!r}\n".encode())
