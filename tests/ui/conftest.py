"""Fixtures for the window's tests: a real daemon on a one-validator devnet, shared by a module, and the
window attached to it."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator

import psutil
import pytest

from tests.ui.devnet_daemon import PASSWORD, DevnetDaemon

__all__ = ["PASSWORD"]


@pytest.fixture(scope="module")
def devnet_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetDaemon]:
    with DevnetDaemon(tmp_path_factory.mktemp("devnet")) as dd:
        yield dd


@pytest.fixture(autouse=True)
def reap_children(request: pytest.FixtureRequest) -> Iterator[None]:
    """tests/conftest.py's reaper, sparing the module's devnet and daemon (its training worker included),
    which the next test of the module goes on using."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    shared = request.node.funcargs.get("devnet_daemon") if hasattr(request.node, "funcargs") else None
    spared = before | (shared.pids() if isinstance(shared, DevnetDaemon) else set())
    for child in psutil.Process().children(recursive=True):
        if child.pid in spared:
            continue
        try:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=5)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired, subprocess.TimeoutExpired):
            pass


@pytest.fixture
def gui(qtbot, devnet_daemon: DevnetDaemon):  # type: ignore[no-untyped-def]
    from app import config as cfg
    from app.ui.main import GuiApp

    app = GuiApp(devnet_daemon.data_dir, cfg.Config(), launch=False)
    qtbot.addWidget(app.window)
    app.start()
    qtbot.waitUntil(app.client.is_ready, timeout=10000)
    yield app
    app.client.stop()
    if app.wizard is not None:
        app.wizard.close()
