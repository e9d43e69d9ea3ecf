"""The gradebook: an SQLite file holding the latest grading of every student × exercise.

It is a plain database a user can query (``sqlite3 gradebook.sqlite``), e.g. the pass rate
of each check::

    SELECT check_id, avg(status = 'passed') FROM checks GROUP BY check_id;

Every grading is committed on its own as soon as it is recorded, in WAL mode, so a batch
killed at any moment loses nothing already graded and the file is never half-written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ipcgrader.results import ExerciseResult

#: Bumped when the tables change incompatibly; an older file is refused, not misread.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gradings (
    student         TEXT NOT NULL,
    exercise        TEXT NOT NULL,
    submission      TEXT NOT NULL,  -- the folder or zip graded, as given
    submission_hash TEXT NOT NULL,  -- sha256 of the files the grading used
    spec_hash       TEXT NOT NULL,  -- sha256 of the exercise folder + grading options
    grader_version  TEXT NOT NULL,
    status          TEXT NOT NULL,  -- passed | failed | error (the grader failed)
    score           REAL NOT NULL,
    max_score       REAL NOT NULL,
    duration_s      REAL NOT NULL,  -- wall time of the grading (in a batch: with queueing)
    run_time_s      REAL NOT NULL,  -- the submission's own runs, summed (its cost)
    graded_at       TEXT NOT NULL,  -- ISO 8601, UTC
    diagnostics     TEXT NOT NULL,  -- JSON list of {kind, file, line, message, hint}
    error           TEXT,           -- why the grader itself failed, if it did
    result          TEXT NOT NULL,  -- the whole result as JSON
    PRIMARY KEY (student, exercise)
);
CREATE TABLE IF NOT EXISTS checks (
    student   TEXT NOT NULL,
    exercise  TEXT NOT NULL,
    position  INTEGER NOT NULL,     -- order of the check in the exercise
    check_id  TEXT NOT NULL,
    name      TEXT NOT NULL,
    status    TEXT NOT NULL,        -- passed | failed | error (could not check)
    score     REAL NOT NULL,
    max_score REAL NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (student, exercise, check_id),
    FOREIGN KEY (student, exercise) REFERENCES gradings (student, exercise) ON DELETE CASCADE
);
"""


class GradebookError(Exception):
    """The gradebook file cannot be used (another version, not a database)."""


@dataclass(frozen=True)
class Fingerprint:
    """The three hashes that decide whether a stored grading is still current."""

    submission_hash: str
    spec_hash: str
    grader_version: str


@dataclass(frozen=True)
class Grading:
    """One stored grading."""

    student: str
    exercise: str
    fingerprint: Fingerprint
    result: ExerciseResult
    graded_at: str
    run_time_s: float = 0.0


class Gradebook:
    """An open gradebook. Use from one thread (the batch records from its main thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise GradebookError(
                    f"{path}: gradebook format {version}, this ipcgrader writes {SCHEMA_VERSION}"
                )
            self._db.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL survives the process being killed; only a power cut can lose the
            # very last commits, which a rerun simply grades again.
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise GradebookError(f"{path}: not a usable gradebook: {exc}") from exc

    def close(self) -> None:
        """Close the database (the file stays)."""
        self._db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def record(
        self,
        student: str,
        fingerprint: Fingerprint,
        result: ExerciseResult,
        run_time_s: float = 0.0,
    ) -> None:
        """Store ``result`` as the current grading of ``student`` (replacing an older one)
        and commit at once."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        diagnostics = [d.model_dump() for d in result.diagnostics]
        with self._transaction():
            key = (student, result.exercise)
            self._db.execute("DELETE FROM checks WHERE student = ? AND exercise = ?", key)
            self._db.execute("DELETE FROM gradings WHERE student = ? AND exercise = ?", key)
            self._db.execute(
                "INSERT INTO gradings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    student,
                    result.exercise,
                    result.submission,
                    fingerprint.submission_hash,
                    fingerprint.spec_hash,
                    fingerprint.grader_version,
                    result.status.value,
                    result.score,
                    result.max_score,
                    result.duration_s,
                    run_time_s,
                    now,
                    json.dumps(diagnostics, ensure_ascii=False),
                    result.error,
                    result.model_dump_json(),
                ),
            )
            self._db.executemany(
                "INSERT INTO checks VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        student,
                        result.exercise,
                        position,
                        check.id,
                        check.name,
                        check.status.value,
                        check.score,
                        check.max_score,
                        check.message,
                    )
                    for position, check in enumerate(result.checks)
                ],
            )

    def _transaction(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db  # the connection commits on success, rolls back on an exception

    def gradings(self) -> Iterator[Grading]:
        """Every stored grading, by student then exercise."""
        rows = self._db.execute(
            "SELECT student, exercise, submission_hash, spec_hash, grader_version, result, "
            "graded_at, run_time_s FROM gradings ORDER BY student, exercise"
        )
        for student, exercise, sub, spec, version, result, graded_at, run_time in rows:
            yield Grading(
                student=student,
                exercise=exercise,
                fingerprint=Fingerprint(sub, spec, version),
                result=ExerciseResult.model_validate_json(result),
                graded_at=graded_at,
                run_time_s=run_time,
            )

    def count(self) -> int:
        """Number of stored gradings."""
        return int(self._db.execute("SELECT count(*) FROM gradings").fetchone()[0])
