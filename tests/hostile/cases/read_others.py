"""Tries to read, and to open for writing, what is not its own: another submission of the
same batch, the exercise's solution and a file its spec does not declare, the gradebook,
/etc/shadow, the grader's home and its environment, and looks for other runs' folders. The
test replaces TARGETS (name -> path), SECRET, RUNS (a glob of run folders) and HOME.

Prints a line per attempt, ``<name> read: yes|no`` and ``<name> write: yes|no``. It never
changes a file it did not create: a write is an open for appending that is closed at once,
and a file created in a target's folder (not in /etc) is removed at once.
"""

import glob
import os

TARGETS: dict[str, str] = {}
SECRET = "ipcgrader-secret"
RUNS = ""
HOME = ""


def can_read(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return bool(handle.read(1)) or True
    except OSError:
        return False


def can_write(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
    except OSError:
        return False
    return True


def can_create_beside(path: str) -> bool:
    folder = os.path.dirname(path)
    if folder.startswith("/etc"):
        return False  # never create a file among the system's, even where it could
    probe = os.path.join(folder, f"ipcgrader-probe-{os.getpid()}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    os.remove(probe)
    return True


def grader_environment() -> bool:
    """Is the secret in the environment of any process this program can see?"""
    needle = SECRET.encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if needle in handle.read():
                        return True
            except OSError:
                continue
    return False


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


for name, path in TARGETS.items():
    print(f"{name} read: {yes(can_read(path))}")
    print(f"{name} write: {yes(can_write(path) or can_create_beside(path))}")
print(f"environment read: {yes(SECRET in ''.join(os.environ.values()))}")
print(f"grader_environment read: {yes(grader_environment())}")
mine = os.path.dirname(os.getcwd())
others = [run for run in glob.glob(RUNS) if run != mine]
print(f"other_runs read: {yes(bool(others))}")
try:
    print(f"home: {' '.join(sorted(os.listdir(HOME)))}")
except OSError:
    print("home:")
print(f"uid: {os.getuid()} {os.geteuid()}")
print("WORK DONE")
