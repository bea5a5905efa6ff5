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


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests marked `last_in_module` after the rest of their module, in whatever order
    (pytest-randomly's or the file's) the module's tests were put."""
    for item in [i for i in items if i.get_closest_marker("last_in_module")]:
        module = getattr(item, "module", None)
        last = max(n for n, other in enumerate(items) if getattr(other, "module", None) is module)
        items.remove(item)
        items.insert(last, item)  # right after the module's last test (which moved up by one)


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
