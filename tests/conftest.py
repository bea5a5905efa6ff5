"""Shared fixtures: temporary data folders, and a reaper so no test leaves child processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator

import psutil
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests must never touch the machine's real keyring.
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture(autouse=True)
def reap_children() -> Iterator[None]:
    """Kill any child process a test started and forgot (hivemind's lesson)."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    for child in psutil.Process().children(recursive=True):
        if child.pid in before:
            continue
        try:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired, subprocess.TimeoutExpired):
            pass
