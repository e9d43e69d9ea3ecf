"""Line-atomic stdout/stderr for every process of a run, and ``out``/``err`` events.

Runs have unbuffered output (``PYTHONUNBUFFERED=1``, so nothing is lost when a process is
killed), but then ``print()`` makes two writes, the text and the newline, and two processes
printing at once glue their lines together (``7查看了票数6查看了票数\\n\\n``): a correct
program would fail an output check at random. Here each complete line goes out in a single
write, as a line-buffered terminal does; a partial line goes out on ``flush()`` or when the
process ends. What is printed is unchanged.
"""

from __future__ import annotations

import os
import sys

import _ipcgrader_trace as _rec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Past this many characters without a newline, text is written through.
MAX_PENDING = 8192
_resets: list[Any] = []


def _watch(stream: Any, kind: str) -> None:
    real_write, real_flush = stream.write, stream.flush
    unwritten: list[str] = []  # text not yet handed to the real stream
    line: list[str] = []  # the current line so far, for its event

    def write(text: str) -> int:
        if not isinstance(text, str):
            return int(real_write(text))  # raises TypeError like the real write
        unwritten.append(text)
        line.append(text)
        if "\n" in text:
            data = "".join(unwritten)
            cut = data.rfind("\n") + 1
            unwritten[:] = [data[cut:]] if cut < len(data) else []
            real_write(data[:cut])
            if _rec.enabled():
                lines = "".join(line).split("\n")
                tail = lines.pop()
                line[:] = [tail] if tail else []
                frame = sys._getframe(1)
                for one in lines:
                    _rec.emit(kind, None, frame, text=one[: _rec.MAX_TEXT])
            else:
                line.clear()
        elif sum(map(len, unwritten)) > MAX_PENDING:
            real_write("".join(unwritten))
            unwritten.clear()
        return len(text)

    def flush() -> None:
        if unwritten:
            real_write("".join(unwritten))
            unwritten.clear()
        real_flush()

    def finish() -> None:
        """At exit: the last line, if it has no newline."""
        if line and _rec.enabled():
            text = "".join(line)[: _rec.MAX_TEXT]
            _rec.emit(kind, locate=False, text=text, partial=True)
        line.clear()
        flush()

    def reset() -> None:
        # a fork child: what the parent had not written yet is the parent's to write
        unwritten.clear()
        line.clear()

    stream.write, stream.flush = write, flush
    stream._ipcgrader_finish = finish
    _resets.append(reset)


def _after_fork_in_child() -> None:
    for reset in _resets:
        reset()


def install() -> None:
    """Make stdout and stderr line-atomic (and recorded, when tracing)."""
    for stream, kind in ((sys.stdout, "out"), (sys.stderr, "err")):
        if stream is not None and hasattr(stream, "write"):
            _watch(stream, kind)
    os.register_at_fork(after_in_child=_after_fork_in_child)
