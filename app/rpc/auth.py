"""The RPC token: a random secret in a file only this user can read.

The daemon writes a fresh token at every start; a client proves it runs as the same user by reading it.
A token file that others could read (or that another user owns) is refused, because then anyone could
drive the wallet, or a planted file could make us send our secrets elsewhere.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from app.fsutil import write_atomic

TOKEN_NAME = "rpc.token"
TOKEN_BYTES = 32


class InsecureFileError(PermissionError):
    """A file that must be private is not; the message names the file and the fix."""


def token_path(data_dir: Path) -> Path:
    return Path(data_dir) / TOKEN_NAME


def generate_token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def tokens_equal(given: str, expected: str) -> bool:
    """Constant-time comparison, so the answer time leaks nothing about the token."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


def check_private_file(path: Path, expected_uid: int | None = None) -> None:
    """Raise InsecureFileError unless `path` is a regular file owned by us with no group/other access.

    On Windows the mode bits mean nothing; the file lives in the user's profile, protected by its ACL.
    """
    path = Path(path)
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISREG(st.st_mode):
        raise InsecureFileError(f"refusing {path}: it is not a regular file")
    if os.name != "posix":
        return
    uid = os.getuid() if expected_uid is None else expected_uid
    if st.st_uid != uid:
        raise InsecureFileError(
            f"refusing {path}: it belongs to user id {st.st_uid}, not to you (user id {uid}); use your own data folder"
        )
    if st.st_mode & 0o077:
        raise InsecureFileError(
            f"refusing {path}: its permissions {stat.filemode(st.st_mode)} let other users read or change it; "
            f"run 'chmod 600 {path}' or restart the daemon to write a new one"
        )


def write_token_file(data_dir: Path) -> str:
    """Write a fresh token atomically with mode 0600 and return it."""
    token = generate_token()
    write_atomic(token_path(data_dir), token.encode("ascii"), mode=0o600)
    return token


def read_token_file(path: Path, expected_uid: int | None = None) -> str:
    """The token in `path`, after checking the file is private; raises a clear error otherwise."""
    path = Path(path)
    try:
        check_private_file(path, expected_uid)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no RPC token file at {path}: is the daemon running on this data folder?") from None
    token = raw.decode("ascii", "replace").strip()
    if len(token) != 2 * TOKEN_BYTES or any(c not in "0123456789abcdef" for c in token):
        raise ValueError(f"the RPC token file {path} is damaged; restart the daemon to write a new one")
    return token
