"""Crash-safe file replacement: a reader sees the old file or the new one, never a mix.

Electrum's storage.write pattern: write a sibling temporary file created with the final permissions,
fsync it, `os.replace` it over the target (atomic on POSIX and Windows), then fsync the directory so
the rename itself survives a power cut. The temporary file never holds anything the target would not.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def _temp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def remove_stale_temps(path: Path) -> None:
    """Delete temporaries a killed writer of `path` left behind (they never replaced anything)."""
    for stale in path.parent.glob(f".{path.name}.*{TEMP_SUFFIX}"):
        try:
            stale.unlink()
        except OSError:
            pass


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically, the new file having permission bits `mode`."""
    path = Path(path)
    remove_stale_temps(path)
    tmp = _temp_name(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, mode)
    try:
        try:
            if os.name == "posix":
                os.fchmod(fd, mode)  # exact bits whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
