"""A filesystem of the run's own, built by the supervisor in its mount namespace (the
``namespaces`` level; bubblewrap builds the same view from the same list at ``bwrap``).
Standard library only (imported by ``supervise.py``, which runs with ``python -I -S``).

The view is a list of mounts, parents first (see ``ipcgrader.isolation.view_of``), each a
tuple ``(kind, target, source, size)``:

- ``tmpfs``: a fresh tmpfs of at most ``size`` bytes, mode 1777 (``/tmp``);
- ``ro`` / ``rw``: ``source`` bound at ``target`` read-only / writable (a file or folder);
- ``symlink``: a symbolic link at ``target`` to ``source`` (``/lib -> usr/lib``);
- ``dir``: a folder (mode 0755) on the way to a mount;
- ``dev``: a ``/dev`` with ``null``, ``zero``, ``full``, ``random``, ``urandom`` (bound
  from the host's), the ``fd``/``std*`` links, and a ``shm`` tmpfs of ``size`` bytes;
- ``proc``: the ``/proc`` of the run's own PID namespace.

Everything is built under ``root`` (an empty folder of the run), which then becomes ``/``:
``pivot_root`` and a lazy unmount of the old root leave nothing of the host reachable, not
even by ``..``. The root itself ends read-only.
"""

from __future__ import annotations

import ctypes
import os

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x20, 0x1000, 0x4000, 0x40000
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 0x400, 0x800, 0x200000
MNT_DETACH = 2
#: statvfs flag -> mount flag: a read-only bind must keep the flags its source mount has
#: (a user namespace may not clear them: they are locked)
_KEPT_FLAGS = {
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}
#: pivot_root(2) has no libc wrapper: its system call number per machine
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "i686": 217, "armv7l": 218,
               "ppc64le": 203, "s390x": 217}  # fmt: skip
DEVICES = ("null", "zero", "full", "random", "urandom")
_DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
              "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}  # fmt: skip

_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _check(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``; OSError naming the target where it fails."""
    result = _libc().mount(
        source.encode(),
        target.encode(),
        fstype.encode() if fstype else None,
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(result, f"mount {source} on {target}")


def _mountpoint(path: str, like: str | None) -> None:
    """Make ``path`` (a folder, or an empty file when ``like`` is a file)."""
    os.makedirs(os.path.dirname(path) or "/", mode=0o755, exist_ok=True)
    if like is not None and not os.path.isdir(like):
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
    else:
        os.makedirs(path, mode=0o755, exist_ok=True)


def bind(source: str, target: str, *, writable: bool) -> None:
    """Bind ``source`` (not the mounts below it) at ``target``; read-only unless told."""
    _mountpoint(target, source)
    mount(source, target, None, MS_BIND)
    if not writable:
        kept = os.statvfs(source).f_flag
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for statvfs_flag, mount_flag in _KEPT_FLAGS.items():
            if kept & statvfs_flag:
                flags |= mount_flag
        mount("none", target, None, flags)


def _tmpfs(target: str, size: int, mode: str) -> None:
    _mountpoint(target, None)
    options = f"mode={mode}" + (f",size={size}" if size else "")
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options)


def _dev(target: str, shm_size: int) -> None:
    _mountpoint(target, None)
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536")
    for name in DEVICES:
        if os.path.exists(f"/dev/{name}"):
            path = f"{target}/{name}"
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))
            mount(f"/dev/{name}", path, None, MS_BIND)
    for name, link in _DEV_LINKS.items():
        os.symlink(link, f"{target}/{name}")
    _tmpfs(f"{target}/shm", shm_size, "1777")


def _pivot_root(root: str) -> None:
    """Make ``root`` the root of this mount namespace and drop the old one from view."""
    number = _PIVOT_ROOT.get(os.uname().machine)
    os.chdir(root)
    if number is not None:
        # pivot_root(".", "."): the old root ends up on top of the new one, detached next
        _check(_libc().syscall(number, b".", b"."), "pivot_root")
        _check(_libc().umount2(b".", MNT_DETACH), "unmount the host's root")
    else:  # a machine whose call number we do not know: move the mount, then chroot
        mount(root, "/", None, 0x2000)  # MS_MOVE
        os.chroot(".")
    os.chdir("/")


def enter(root: str, view: list[tuple[str, str, str, int]]) -> None:
    """Build ``view`` under ``root`` and make it the root of this process (and so of every
    process it starts). ``root`` must be an empty folder; this mount namespace must be the
    run's own (the host's mounts are never touched: every mount here is private to it)."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1048576")
    for kind, target, source, size in view:
        inside = root + target
        if kind in ("ro", "rw"):
            bind(source, inside, writable=kind == "rw")
        elif kind == "tmpfs":
            _tmpfs(inside, size, "1777")
        elif kind == "dir":
            _mountpoint(inside, None)
        elif kind == "symlink":
            os.makedirs(os.path.dirname(inside), mode=0o755, exist_ok=True)
            os.symlink(source, inside)
        elif kind == "dev":
            _dev(inside, size)
        elif kind == "proc":
            _mountpoint(inside, None)
            mount("proc", inside, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        else:
            raise ValueError(f"unknown mount kind {kind!r}")
    _pivot_root(root)
    mount("none", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
