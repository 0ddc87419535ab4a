"""File access that cannot escape the working directory or leave half a file.

``resolve_in_workdir`` checks a path; this module makes sure that what is then opened
is what was checked. Every directory on the way is opened relative to its parent's
descriptor with ``O_NOFOLLOW``, starting from the working directory, so a symlink
swapped in after the check is refused instead of followed. (The checked path has all
its symlinks resolved already, so a symlink met here is always one that appeared
since.) Nothing is opened before it is known to be a regular file: FIFOs and devices
are refused from ``lstat``, and the open itself is non-blocking in case one is swapped
in, then checked again on the descriptor.

Writes never touch the target in place: the new content goes to a temporary file in
the same folder, is flushed to disk (``fsync``) and renamed over the target, which
keeps the target's mode. A crash or ``kill -9`` at any moment leaves the old content or
the new one, never a mix (at worst a stray ``.NAME.XXXXXXXX.tmp`` file).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from tools.base import ToolError

__all__ = ["MAX_READ_BYTES", "confined_dir", "read_at", "read_confined", "replace_at"]

# read_file and patch refuse larger files before reading them (the terminal tool's
# head/sed/grep read parts of anything).
MAX_READ_BYTES = 10_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1 << 20
_SWAPPED = "is a symbolic link that appeared after the path was checked; file tools do not follow it"


@contextlib.contextmanager
def confined_dir(root: Path, directory: Path, shown: str, *, verb: str, create: bool = False) -> Iterator[int]:
    """A descriptor of ``directory`` (inside ``root``, symlinks already resolved), opened
    one component at a time without following symlinks; ``create`` makes missing ones."""
    try:
        parts = directory.relative_to(root).parts
    except ValueError:
        raise ToolError(
            f"path '{shown}' is outside the working directory {root}; file tools only work inside it"
        ) from None
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            parent, fd = fd, -1  # _step closes the parent, whatever happens
            fd = _step(parent, part, shown, verb, create)
        yield fd
    finally:
        if fd >= 0:
            os.close(fd)


def _step(parent: int, part: str, shown: str, verb: str, create: bool) -> int:
    """Open ``part`` under ``parent`` as a directory (closing ``parent``)."""
    try:
        try:
            return os.open(part, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise ToolError(f"cannot {verb} {shown}: folder {part} does not exist") from None
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o777, dir_fd=parent)
            return os.open(part, _DIR_FLAGS, dir_fd=parent)
        except OSError as exc:
            if _is_symlink(parent, part):
                raise ToolError(f"refused: {part} in {shown} {_SWAPPED}") from None
            if isinstance(exc, NotADirectoryError):
                raise ToolError(f"cannot {verb} {shown}: {part} is a file, not a folder") from None
            raise ToolError(f"cannot {verb} {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(parent)


def read_confined(root: Path, path: Path, shown: str, *, limit: int = MAX_READ_BYTES, missing_hint: str = "") -> bytes:
    """The bytes of the regular file ``path`` (checked, inside ``root``)."""
    with confined_dir(root, path.parent, shown, verb="read") as folder:
        return read_at(folder, path.name, shown, limit=limit, missing_hint=missing_hint)


def read_at(folder: int, name: str, shown: str, *, limit: int = MAX_READ_BYTES, missing_hint: str = "") -> bytes:
    """The bytes of the regular file ``name`` in ``folder``; refuses anything else, and
    files over ``limit`` bytes, before reading."""
    try:
        _check_readable(os.stat(name, dir_fd=folder, follow_symlinks=False), shown, limit)
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        raise ToolError(f"file not found: {shown}{missing_hint}") from None
    except OSError as exc:
        if _is_symlink(folder, name):
            raise ToolError(f"refused: {shown} {_SWAPPED}") from None
        raise ToolError(f"cannot read {shown}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_readable(os.fstat(fd), shown, limit)  # swapped between the stat and the open?
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise ToolError(_too_big(shown, len(data), limit))
    return data


def _check_readable(info: os.stat_result, shown: str, limit: int) -> None:
    if stat.S_ISLNK(info.st_mode):
        raise ToolError(f"refused: {shown} {_SWAPPED}")
    if stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{shown} is a directory; use list_dir to see what it contains")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{shown} is {_kind(info.st_mode)}, not a regular file; file tools only read regular files")
    if info.st_size > limit:
        raise ToolError(_too_big(shown, info.st_size, limit))


def _too_big(shown: str, size: int, limit: int) -> str:
    return (
        f"{shown} is {size:,} bytes, over the {limit:,}-byte limit of the file tools; nothing was read. "
        "Look at parts of it with the terminal tool (head, tail, sed -n '100,200p', grep)"
    )


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), which could keep a reader waiting forever"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def replace_at(folder: int, name: str, shown: str, data: bytes, *, append: bool = False) -> int:
    """Write ``data`` as the new content of ``name`` in ``folder`` (after its old content
    when ``append``), atomically; returns the new size in bytes."""
    existing = _existing_target(folder, name, shown)
    temp = f".{name[:200]}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(temp, _TEMP_FLAGS, 0o600 if existing else 0o666, dir_fd=folder)
        with os.fdopen(fd, "wb") as out:
            if append and existing is not None:
                _copy_old(folder, name, shown, out.fileno())
            out.write(data)
            out.flush()
            if existing is not None:
                _keep_owner_and_mode(out.fileno(), existing)
            os.fsync(out.fileno())
            size = os.fstat(out.fileno()).st_size
        os.rename(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException as exc:  # also Ctrl+C: never leave the temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=folder)
        if isinstance(exc, OSError):
            raise ToolError(f"cannot write {shown}: {exc.strerror or exc}; the file was not changed") from None
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut (not on every fs)
        os.fsync(folder)
    return size


def _existing_target(folder: int, name: str, shown: str) -> os.stat_result | None:
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        raise ToolError(f"refused: {shown} {_SWAPPED}")
    if stat.S_ISDIR(info.st_mode):
        raise ToolError(f"{shown} is a directory; give a file path")
    if not stat.S_ISREG(info.st_mode):
        raise ToolError(f"{shown} is {_kind(info.st_mode)}, not a regular file; file tools only write regular files")
    if not os.access(name, os.W_OK, dir_fd=folder):
        raise ToolError(f"cannot write {shown}: it is read-only (permission denied); the file was not changed")
    return info


def _copy_old(folder: int, name: str, shown: str, out: int) -> None:
    """The old content first (append), copied in chunks: the file may be large."""
    old = os.open(name, _READ_FLAGS, dir_fd=folder)
    try:
        if not stat.S_ISREG(os.fstat(old).st_mode):
            raise ToolError(f"refused: {shown} changed into a special file while it was being written")
        while chunk := os.read(old, _COPY_CHUNK):
            _write_all(out, chunk)
    finally:
        os.close(old)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _keep_owner_and_mode(fd: int, old: os.stat_result) -> None:
    with contextlib.suppress(PermissionError):  # only root may give a file away
        if os.fstat(fd).st_uid != old.st_uid or os.fstat(fd).st_gid != old.st_gid:
            os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, stat.S_IMODE(old.st_mode))


def _is_symlink(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False
