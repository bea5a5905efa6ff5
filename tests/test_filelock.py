"""app.filelock: one holder at a time across processes, a bounded wait, and no lock outliving its holder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.filelock import LockBusy, WaitAbandoned, exclusive

HOLDER = """
import sys, time
from pathlib import Path
from app.filelock import exclusive
with exclusive(Path(sys.argv[1]), wait_s=5):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_in_child(path: Path, seconds: float) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_a_second_process_waits_until_the_holder_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "round.lock"
    child = hold_in_child(path, 1.0)
    waited: list[bool] = []
    started = time.monotonic()
    with exclusive(path, wait_s=30, on_wait=lambda: waited.append(True)):
        assert child.poll() is not None or time.monotonic() - started >= 0.5  # got it only once the child let go
    assert waited == [True]
    child.wait(10)


def test_the_wait_is_bounded_and_can_be_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "round.lock"
    child = hold_in_child(path, 30.0)
    try:
        with pytest.raises(LockBusy, match="held by another process"), exclusive(path, wait_s=0.3):
            raise AssertionError("entered a held lock")
        calls = iter([False, False, True])
        with pytest.raises(WaitAbandoned), exclusive(path, wait_s=30, give_up=lambda: next(calls)):
            raise AssertionError("entered a held lock")
    finally:
        child.kill()
        child.wait(10)


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX; Windows drops the lock with the process too")
def test_a_killed_holder_leaves_no_lock_behind(tmp_path: Path) -> None:
    path = tmp_path / "round.lock"
    child = hold_in_child(path, 60.0)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    with exclusive(path, wait_s=0.5):  # at once: the OS released it with the process
        pass
    with exclusive(path, wait_s=0.5):  # and it can be taken again after a release
        pass
