"""An exclusive lock on a file, held by one process at a time and released by the OS when it dies.

Why: a round's resume folder must have one writer. When the daemon is killed (`kill -9`, a crash), its
training worker is orphaned: it notices the closed pipe at its next step, saves the exact step it reached
and exits. A restarted daemon's new worker must wait for that save instead of resuming from the older
record beside it (losing the steps between) and writing into the same folder at the same time.

POSIX `flock` and Windows `msvcrt.locking` both drop the lock with the process, so a crashed holder never
leaves the folder locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_S = 0.05


class LockBusy(RuntimeError):
    """Another live process held the lock for the whole wait."""


class WaitAbandoned(RuntimeError):
    """The caller's `give_up` said to stop waiting (a command arrived meanwhile)."""


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_UN)


@contextlib.contextmanager
def exclusive(
    path: Path, *, wait_s: float, give_up: Callable[[], bool] = lambda: False, on_wait: Callable[[], None] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block.

    Waits up to `wait_s` for another holder, calling `on_wait` once if it has to wait; raises `LockBusy`
    when the wait runs out and `WaitAbandoned` as soon as `give_up()` is true."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        deadline = time.monotonic() + wait_s
        waited = False
        while not _try_lock(fd):
            if give_up():
                raise WaitAbandoned(f"stopped waiting for {path}")
            if time.monotonic() >= deadline:
                raise LockBusy(f"{path} is held by another process for more than {wait_s:.0f} s")
            if not waited and on_wait is not None:
                on_wait()
            waited = True
            time.sleep(POLL_S)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)
