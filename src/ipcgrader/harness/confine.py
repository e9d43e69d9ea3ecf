"""How the supervisor confines itself and the student's process. Standard library only
(imported by ``supervise.py``, which runs with ``python -I -S``)."""

from __future__ import annotations

import ctypes
import fcntl
import os

PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_SECUREBITS, SECBIT_NOROOT_AND_LOCKED = 28, 0x3


_LIBC: list[ctypes.CDLL] = []


def prctl(option: int, value: int, arg: int = 0) -> bool:
    """``prctl(2)``; False where it failed (or is not there)."""
    try:
        if not _LIBC:
            _LIBC.append(ctypes.CDLL(None, use_errno=True))
        return bool(_LIBC[0].prctl(option, value, arg, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def drop_privileges() -> None:
    """In the child, before exec: no capabilities after exec, and no way to regain any.

    Root (also root of a user namespace) gets every capability again at exec unless told
    not to; with them a root student could raise its own rlimits. Each step may fail for
    want of CAP_SETPCAP (then there is nothing to drop); no_new_privs alone already stops
    exec from granting more than the supervisor has.
    """
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)  # ambient ones would survive exec
    prctl(PR_SET_SECUREBITS, SECBIT_NOROOT_AND_LOCKED)  # uid 0 is no reason for caps
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as handle:
            last = int(handle.read())
    except (OSError, ValueError):
        last = 40
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)


def raise_priority() -> bool:
    """Real-time scheduling for the supervisor (where permitted: root), so hundreds of busy
    student processes cannot starve it of the CPU it needs to count and kill them. It sleeps
    almost all the time; its children start with ordinary scheduling (reset on fork)."""
    try:
        policy = os.SCHED_RR | os.SCHED_RESET_ON_FORK
        os.sched_setscheduler(0, policy, os.sched_param(1))
    except (OSError, AttributeError):
        return False
    return True


def loopback_up() -> None:
    """Bring up ``lo`` in a fresh network namespace (``unshare --net`` leaves it down), so
    a program may talk to itself over 127.0.0.1 and still reach nothing outside."""
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            request = struct.pack("16sH22x", b"lo", 0)
            flags = struct.unpack("16sH", fcntl.ioctl(s.fileno(), siocgifflags, request)[:18])[1]
            fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))
    except OSError:
        pass


# --- what ``exec`` and ``unshare(1)`` do, for runs forked from a warm interpreter ----------
# (``ipcgrader/harness/zygote.py``): a process that is not exec'd must do them itself.

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
_CAP_VERSION_3 = 0x20080522


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _checked(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def unshare(flags: int) -> None:
    """``unshare(2)`` (Python 3.11 has no ``os.unshare``); raises OSError."""
    _checked(_libc().unshare(flags), "unshare")


def mount_proc() -> None:
    """What ``unshare --mount-proc`` does in its child: nothing mounted here propagates to
    the host, and ``/proc`` shows this PID namespace."""
    libc = _libc()
    _checked(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC
    _checked(libc.mount(b"proc", b"/proc", b"proc", flags, None), "mount /proc")


def clear_capabilities() -> bool:
    """Empty the effective, permitted and inheritable sets (``capset(2)``): what exec does
    under ``SECBIT_NOROOT`` for a process that is not exec'd. True when none is left."""
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    try:
        if _libc().capset(header, data) != 0:
            return False
    except (OSError, AttributeError):
        return False
    return True
