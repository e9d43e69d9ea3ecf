"""Find a student's files, check they compile, and copy them into a run folder."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

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
        raise SubmissionError(f"{path}: no such file or folder")
    if path.is_file():
        if len(exercise.entry) != 1 and path.name not in exercise.entry:
            raise SubmissionError(
                f"{path}: this exercise needs {', '.join(exercise.entry)}; give a folder"
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
        try:
            compile(data, name, "exec", dont_inherit=True)
        except SyntaxError as exc:
            text = (exc.text or "").strip()
            detail = f": {text}" if text else ""
            problems.append(
                Diagnostic(
                    kind="syntax_error",
                    file=name,
                    line=exc.lineno,
                    message=f"{type(exc).__name__}: {exc.msg} (line {exc.lineno}){detail}",
                    hint="Run the file yourself with python to see the error; "
                    "nothing can be graded until it compiles.",
                )
            )
        except ValueError as exc:  # e.g. null bytes in the source
            problems.append(Diagnostic(kind="syntax_error", file=name, message=str(exc)))
    return problems
