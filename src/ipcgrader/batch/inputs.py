"""What a batch grades: one folder or one ``.zip`` per student, found and unpacked.

Zips are extracted by hand, not with ``extractall``: every member name is checked (no
absolute paths, no ``..``, no symlinks), and the bytes actually written are counted, so a
zip bomb whose headers lie about sizes is stopped at the cap.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: Most bytes a student's zip may extract to; far above any honest submission.
MAX_ARCHIVE_BYTES = 16 << 20
#: Most members a student's zip may hold.
MAX_ARCHIVE_FILES = 500
_CHUNK = 1 << 16
#: Folders that archivers add and nobody means to submit.
_JUNK = {"__MACOSX", "__pycache__", ".git"}


class ArchiveError(Exception):
    """A student's zip could not be extracted safely; ``str()`` says why."""


@dataclass(frozen=True)
class StudentSubmission:
    """One student's submission as found in the submissions folder."""

    student: str
    #: the folder or zip as given (shown in reports)
    source: Path

    @property
    def is_archive(self) -> bool:
        """True when the submission is a zip that must be extracted first."""
        return self.source.suffix.lower() == ".zip"


def discover(
    folder: Path, exclude: Collection[Path] = ()
) -> tuple[list[StudentSubmission], list[str]]:
    """Students in ``folder`` (sorted by name) and warnings about entries that were skipped.

    A student is a sub-folder or a ``.zip``; the name is the folder name or the zip's stem.
    Entries whose resolved path is in ``exclude`` (the output folder) are not students.
    """
    found: dict[str, StudentSubmission] = {}
    warnings: list[str] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.name in _JUNK or entry.resolve() in exclude:
            continue
        if entry.is_dir():
            name = entry.name
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            name = entry.stem
        else:
            warnings.append(f"{entry}: skipped (a student is a folder or a .zip)")
            continue
        if name in found:
            # sorted(): "alice" comes before "alice.zip", so the folder wins
            warnings.append(f"{entry}: skipped ({found[name].source.name} is also {name!r})")
            continue
        found[name] = StudentSubmission(student=name, source=entry)
    return list(found.values()), warnings


def _member_path(name: str) -> PurePosixPath | None:
    """The safe relative path of a zip member, or None for junk; raises on a hostile one."""
    clean = name.replace("\\", "/")
    path = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise ArchiveError(f"member {name!r} has an absolute path")
    if ".." in path.parts:
        raise ArchiveError(f"member {name!r} points outside the archive")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts or any(p in _JUNK for p in parts):
        return None
    return PurePosixPath(*parts)


def extract_archive(archive: Path, target: Path, exercise_ids: Collection[str] = ()) -> Path:
    """Extract ``archive`` into the empty folder ``target``; return the submission folder.

    A zip that wraps everything in one folder (``alice/ticket.py``) is unwrapped, unless that
    folder is named after an exercise (``lock_ticket/ticket.py`` is resolved by the grader).
    Raises :class:`ArchiveError` on anything unsafe or broken; nothing outside ``target`` is
    ever written.
    """
    written = 0
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_ARCHIVE_FILES:
                raise ArchiveError(f"holds {len(members)} files (at most {MAX_ARCHIVE_FILES})")
            for info in members:
                relative = _member_path(info.filename)
                if relative is None or info.is_dir():
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ArchiveError(f"member {info.filename!r} is a symbolic link")
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                # header sizes can lie: count what is really decompressed
                with zf.open(info) as source, open(destination, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > MAX_ARCHIVE_BYTES:
                            raise ArchiveError(f"extracts to more than {MAX_ARCHIVE_BYTES} bytes")
                        sink.write(chunk)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError) as exc:
        raise ArchiveError(f"not a readable zip: {exc}") from exc
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveError(f"cannot be extracted: {exc}") from exc
    folder = target
    while True:
        children = list(folder.iterdir())
        if len(children) != 1 or not children[0].is_dir() or children[0].name in exercise_ids:
            return folder
        folder = children[0]


@dataclass(frozen=True)
class Unpacked:
    """A student's submission ready to grade."""

    student: StudentSubmission
    folder: Path
    problem: str | None = None  # why the zip could not be extracted (folder is then empty)


def unpack(
    students: Sequence[StudentSubmission], workdir: Path, exercise_ids: set[str]
) -> list[Unpacked]:
    """Each student's folder to grade: the folder itself, or the zip extracted under
    ``workdir``. A bad zip becomes an empty folder and the reason why."""
    unpacked = []
    for index, student in enumerate(students):
        if not student.is_archive:
            unpacked.append(Unpacked(student, student.source))
            continue
        target = workdir / f"{index:05d}"
        target.mkdir(parents=True)
        try:
            unpacked.append(
                Unpacked(student, extract_archive(student.source, target, exercise_ids))
            )
        except ArchiveError as exc:
            shutil.rmtree(target)  # never grade half an archive
            target.mkdir()
            unpacked.append(Unpacked(student, target, f"{student.source.name}: {exc}"))
    return unpacked
