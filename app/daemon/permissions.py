"""Private folders stay private: the data folder, the log folder and the keystore are the user's alone.

Another local user must not read the keystore (an offline password-guessing target), the logs (addresses,
balances, activity) or the RPC files. At daemon start, on POSIX, anything of ours that others can read
is fixed (folders 0700, files 0600) and each fix is reported; a folder or file owned by another user is
refused with a message saying what to do, because chmod would not make it ours.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


class NotPrivate(PermissionError):
    """A path the daemon would use that belongs to another user."""


def _tighten(path: Path, mode: int) -> str | None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return None  # never follow a link to chmod something else
    if st.st_uid != os.getuid():
        raise NotPrivate(
            f"{path} belongs to user id {st.st_uid}, not to you: the daemon will not keep "
            "wallet or logs there; use a folder of your own (--datadir) or fix its owner"
        )
    current = stat.S_IMODE(st.st_mode)
    if current & 0o077 == 0:
        return None
    os.chmod(path, mode)
    return f"{path} was readable by others (mode {current:o}); made it {mode:o}"


def secure_private_paths(data_dir: Path, log_dir: Path, keystore: Path) -> list[str]:
    """Make the daemon's private paths private; returns one message per fix (empty off POSIX)."""
    if os.name != "posix":
        return []
    fixed: list[str] = []
    for folder in (data_dir, log_dir, keystore.parent):
        if (msg := _tighten(folder, PRIVATE_DIR)) is not None:
            fixed.append(msg)
    files = [keystore]
    if log_dir.is_dir():
        files += sorted(p for p in log_dir.iterdir() if p.name.startswith("potminer.log"))
    for file in files:
        if (msg := _tighten(file, PRIVATE_FILE)) is not None:
            fixed.append(msg)
    return fixed
