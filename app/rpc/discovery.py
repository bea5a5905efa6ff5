"""Finding the running daemon: the lockfile in the data folder says where it listens (Electrum pattern).

The daemon owns the file (app.daemon.lock writes it); clients only read it. Its format lives here so
both sides agree without the window importing daemon code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from app.rpc.auth import check_private_file

LOCK_NAME = "daemon.lock"
MAX_LOCK_BYTES = 4096


class LockFileError(ValueError):
    """A lockfile that cannot be read as ours; the message names the file."""


@dataclass(frozen=True)
class LockInfo:
    """What the lockfile records. `endpoint` is None while the daemon is still starting."""

    pid: int
    started: float  # the process's creation time: tells a live daemon from a recycled pid
    version: str
    endpoint: str | None = None

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, raw: bytes, path: Path) -> LockInfo:
        try:
            obj: Any = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise LockFileError(f"lockfile {path} is not valid JSON") from None
        if not isinstance(obj, dict):
            raise LockFileError(f"lockfile {path} must hold a JSON object")
        pid, started, version, endpoint = obj.get("pid"), obj.get("started"), obj.get("version"), obj.get("endpoint")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise LockFileError(f"lockfile {path}: 'pid' must be a positive integer")
        if not isinstance(started, (int, float)) or isinstance(started, bool):
            raise LockFileError(f"lockfile {path}: 'started' must be a number")
        if not isinstance(version, str):
            raise LockFileError(f"lockfile {path}: 'version' must be a string")
        if endpoint is not None and not isinstance(endpoint, str):
            raise LockFileError(f"lockfile {path}: 'endpoint' must be a string or null")
        return cls(pid=pid, started=float(started), version=version, endpoint=endpoint)


def lock_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_NAME


def read_lock_info(data_dir: Path) -> LockInfo | None:
    """The lockfile's contents, or None when there is none; raises if it is foreign or damaged."""
    path = lock_path(data_dir)
    try:
        check_private_file(path)
        with open(path, "rb") as fh:
            raw = fh.read(MAX_LOCK_BYTES + 1)
    except FileNotFoundError:
        return None
    if len(raw) > MAX_LOCK_BYTES:
        raise LockFileError(f"lockfile {path} is larger than {MAX_LOCK_BYTES} bytes")
    return LockInfo.from_bytes(raw, path)
