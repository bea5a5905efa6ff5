"""Fixtures for the window's tests: a daemon on a temporary data folder and the window attached to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ui.standin_daemon import StandInDaemon

PASSWORD = "correct horse battery"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[StandInDaemon]:
    with StandInDaemon(tmp_path / "data", block_s=0.2, step_s=0.02, steps_per_round=20, work=64) as d:
        yield d


@pytest.fixture
def gui(qtbot, daemon: StandInDaemon):  # type: ignore[no-untyped-def]
    from app import config as cfg
    from app.ui.main import GuiApp

    app = GuiApp(daemon.data_dir, cfg.Config(), launch=False)
    qtbot.addWidget(app.window)
    app.start()
    qtbot.waitUntil(app.client.is_ready, timeout=5000)
    yield app
    app.client.stop()
    if app.wizard is not None:
        app.wizard.close()
