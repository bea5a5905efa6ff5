"""One daemon per data folder: an exclusive lockfile that also tells clients where the daemon listens.

Electrum's daemon pattern. The lockfile appears atomically (written aside, then hard-linked into place,
which fails if one exists: O_EXCL semantics without a half-written window). A lockfile left by a dead
daemon is recognised, because its pid no longer runs the process that was started at the recorded time
(pid reuse is caught), and replaced. A live holder is never displaced: the caller gets a clear message
saying whether it answers a ping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psutil

from app import __version__
from app.fsutil import fsync_dir, write_atomic
from app.rpc.client import RpcClient, RpcConnectionError
from app.rpc.discovery import LockFileError, LockInfo, lock_path, read_lock_info
from app.rpc.endpoint import Endpoint
from app.rpc.protocol import RpcError

log = logging.getLogger(__name__)

PING_TIMEOUT = 2.0


class DaemonAlreadyRunning(RuntimeError):
    """Another live daemon holds this data folder."""

    def __init__(self, message: str, info: LockInfo) -> None:
        super().__init__(message)
        self.info = info


def process_started(pid: int) -> float | None:
    """Creation time of process `pid`, or None when no such process runs."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return float("nan")  # it exists but we cannot see it: treat as alive, never steal its lock


def holder_alive(info: LockInfo) -> bool:
    started = process_started(info.pid)
    if started is None:
        return False
    return started != started or abs(started - info.started) < 0.05  # NaN means "exists, unreadable"


def ping_holder(info: LockInfo, data_dir: Path) -> bool:
    """Whether the holder answers a ping on its recorded endpoint with its token."""
    if info.endpoint is None:
        return False
    try:
        with RpcClient.for_datadir(data_dir, timeout=PING_TIMEOUT) as client:
            return client.ping()
    except (RpcConnectionError, RpcError, OSError, ValueError):
        return False


class DaemonLock:
    """Hold the data folder's lockfile for this process's lifetime: acquire(), publish_endpoint(), release()."""

    def __init__(self, data_dir: Path, version: str = __version__) -> None:
        self.data_dir = Path(data_dir)
        self.path = lock_path(self.data_dir)
        me = psutil.Process()
        self.info = LockInfo(pid=me.pid, started=me.create_time(), version=version)
        self._held = False

    def acquire(self) -> None:
        """Take the lock, replacing a dead daemon's; raises DaemonAlreadyRunning if a live one holds it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _guard(self.path):
            for _ in range(3):
                if self._try_create():
                    self._held = True
                    return
                try:
                    other = read_lock_info(self.data_dir)
                except LockFileError as exc:
                    log.warning("replacing a damaged lockfile: %s", exc)
                    self.path.unlink(missing_ok=True)
                    continue
                if other is None:
                    continue  # vanished meanwhile: try again
                if holder_alive(other):
                    raise DaemonAlreadyRunning(self._refusal(other), other)
                log.warning("removing the stale lockfile of daemon pid %d, which is no longer running", other.pid)
                self.path.unlink(missing_ok=True)
        raise RuntimeError(f"could not take {self.path}; another process keeps changing it")

    def _refusal(self, other: LockInfo) -> str:
        where = f" at {other.endpoint}" if other.endpoint else ""
        if ping_holder(other, self.data_dir):
            return (
                f"a daemon (pid {other.pid}, version {other.version}) is already running on {self.data_dir}"
                f"{where}; use it, or stop it first with 'potminer stop'"
            )
        return (
            f"daemon pid {other.pid} holds {self.path} but does not answer{where}; it may be starting "
            "or hung: wait, or end that process, then try again"
        )

    def _try_create(self) -> bool:
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        write_atomic(tmp, self.info.to_bytes(), mode=0o600)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
            fsync_dir(self.data_dir)

    def publish_endpoint(self, endpoint: Endpoint | str) -> None:
        """Record where the RPC listens, once it does, so clients can find it."""
        if not self._held:
            raise RuntimeError("publish_endpoint() before acquire()")
        self.info = LockInfo(self.info.pid, self.info.started, self.info.version, str(endpoint))
        write_atomic(self.path, self.info.to_bytes(), mode=0o600)

    def release(self) -> None:
        """Remove the lockfile if it is still ours (idempotent)."""
        if not self._held:
            return
        self._held = False
        try:
            current = read_lock_info(self.data_dir)
        except (LockFileError, OSError):
            return
        if current is not None and (current.pid, current.started) == (self.info.pid, self.info.started):
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialise lock takeovers between daemons starting at once (POSIX flock; released on exit or death)."""
    try:
        import fcntl
    except ImportError:  # Windows: the narrow race of two simultaneous starts over a stale lock remains
        yield
        return
    fd = os.open(path.with_name(path.name + ".guard"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
