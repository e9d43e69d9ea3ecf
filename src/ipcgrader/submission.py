"""Find a student's files, check they compile, and copy them into a run folder."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from ipcgrader.i18n import _
from ipcgrader.models import Exercise
from ipcgrader.results import Diagnostic

#: Other files of a submission folder copied next to the entry files (helper modules, data).
MAX_EXTRA_FILES = 50
MAX_EXTRA_BYTES = 1 << 20


class SubmissionError(Exception):
    """The submission path itself is unusable (does not exist, is not readable)."""


@dataclass
class Submission:
    """A submission resolved against an exercise: where each entry file comes from."""

    path: Path
    #: entry name (as the exercise calls it) -> the student's file; missing ones are absent
    entries: dict[str, Path]
    extras: list[Path] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def copy_into(self, workdir: Path) -> None:
        """Copy the entry files (under their exercise names) and the extras into workdir."""
        for extra in self.extras:
            shutil.copyfile(extra, workdir / extra.name)
        for name, source in self.entries.items():
            shutil.copyfile(source, workdir / name)


def _own_file(file: Path, submission: Path) -> bool:
    """Is ``file`` a file of the submission folder? A link to a file elsewhere (the
    exercise's solution, a classmate's submission) is not: the grader would copy it."""
    return file.is_file() and file.resolve().is_relative_to(submission.resolve())


def resolve_submission(exercise: Exercise, path: Path) -> Submission:
    """Match ``path`` (a file or a folder) to the exercise's entry files.

    A folder may hold the entry files at its top or in a sub-folder named after the
    exercise id. A single file stands for the exercise's only entry file, whatever its name.
    """
    if not path.exists():
        raise SubmissionError(_("{path}: no such file or folder").format(path=path))
    if path.is_file():
        if len(exercise.entry) != 1 and path.name not in exercise.entry:
            raise SubmissionError(
                _("{path}: this exercise needs {files}; give a folder").format(
                    path=path, files=", ".join(exercise.entry)
                )
            )
        name = path.name if path.name in exercise.entry else exercise.entry[0]
        return Submission(path=path, entries={name: path})
    folder = path
    if not any((folder / name).is_file() for name in exercise.entry):
        nested = folder / exercise.id
        if nested.is_dir():
            folder = nested
    entries = {name: folder / name for name in exercise.entry if _own_file(folder / name, path)}
    missing = [name for name in exercise.entry if name not in entries]
    extras: list[Path] = []
    total = 0
    for candidate in sorted(folder.iterdir()):
        if len(extras) >= MAX_EXTRA_FILES or candidate.name in exercise.entry:
            continue
        if _own_file(candidate, path) and candidate.suffix in {".py", ".json", ".txt"}:
            total += candidate.stat().st_size
            if total <= MAX_EXTRA_BYTES:
                extras.append(candidate)
    return Submission(path=path, entries=entries, extras=extras, missing=missing)


def compile_errors(submission: Submission) -> list[Diagnostic]:
    """Syntax errors of the entry files, found without running anything."""
    problems = []
    for name, source in submission.entries.items():
        try:
            data = source.read_bytes()
        except OSError as exc:
            problems.append(Diagnostic(kind="unreadable", file=name, message=f"{exc}"))
            continue
        encoding = foreign_encoding(data)
        if encoding is not None:
            problems.append(encoding_problem(name, encoding))
            continue
        try:
            compile(data, name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            text = (exc.text or "").strip()
            if text:
                message = _("{error}: {reason}: {code}").format(
                    error=type(exc).__name__, reason=exc.msg, code=text
                )
            else:
                message = _("{error}: {reason}").format(error=type(exc).__name__, reason=exc.msg)
            problems.append(
                Diagnostic(
                    kind="syntax_error",
                    file=name,
                    line=exc.lineno,
                    message=message,
                    hint=_(
                        "Run the file yourself with python to see the error; nothing can be "
                        "graded until it compiles."
                    ),
                )
            )
        except ValueError as exc:  # e.g. null bytes in the source
            problems.append(Diagnostic(kind="syntax_error", file=name, message=str(exc)))
    return problems


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def foreign_encoding(data: bytes) -> str | None:
    """The encoding a source file was saved in when it is not UTF-8 and Python would not
    read it ("GBK", "UTF-16", ...); None for UTF-8 (with or without a BOM), plain ASCII,
    and a file that declares its own encoding in a coding comment."""
    if data.startswith(b"\xef\xbb\xbf"):
        return None  # UTF-8 with a byte-order mark: Python reads it
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    if data[:200].count(b"\x00") > 4:  # UTF-16 without a BOM: every ASCII char has a NUL
        return "UTF-16"
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    if any(_CODING.match(line) for line in data.splitlines()[:2]):
        return None  # PEP 263: the file says what it is; compile() decides
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return _("an encoding other than UTF-8")
    try:
        data.decode("gbk")
    except UnicodeDecodeError:
        return "GB18030"
    return "GBK" if any("\u4e00" <= ch <= "\u9fff" for ch in text) else "GBK (GB2312)"


def encoding_problem(name: str, encoding: str) -> Diagnostic:
    """The finding for a source file saved in ``encoding`` instead of UTF-8."""
    return Diagnostic(
        kind="encoding",
        file=name,
        message=_(
            "{file} is saved as {encoding}, not UTF-8: Python reads source files as UTF-8, "
            "so its Chinese text (or other non-ASCII characters) cannot be read and nothing "
            "in it can run"
        ).format(file=name, encoding=encoding),
        hint=_(
            "Save {file} as UTF-8 and hand it in again. VS Code: click the encoding in the "
            "status bar, then 'Save with Encoding', 'UTF-8'. PyCharm: File, File Properties, "
            "File Encoding, UTF-8. Notepad: Save As, Encoding: UTF-8."
        ).format(file=name),
    )
