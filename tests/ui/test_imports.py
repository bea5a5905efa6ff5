"""The window stays light: importing it (in a fresh interpreter) pulls in no torch, libp2p, trio or node code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "torch",
    "libp2p",
    "trio",
    "app.core",
    "app.pot",
    "app.miner",
    "app.net",
    "app.node",
    "app.daemon",
    "app.wallet.wallet",
)
MODULES = [
    "app.ui.main",
    "app.ui.main_window",
    "app.ui.wizard",
    "app.ui.tray",
    "app.ui.settings",
    "app.ui.pages.dashboard",
    "app.ui.pages.wallet",
    "app.ui.pages.earnings",
    "app.ui.pages.network",
    "app.ui.pages.logs",
    "app.ui.widgets.charts",
    "app.ui.widgets.qr",
    "app.ui.widgets.secrets",
]


def test_window_imports_nothing_heavy() -> None:
    code = (
        f"import importlib, json, sys\nfor m in {MODULES!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert not bad, f"the window imported {bad}"
    assert "app.ui.main" in loaded and "PySide6.QtWidgets" in loaded
