"""The core stays pure: importing any module of `app.core` (in a fresh interpreter) pulls in no Qt, torch or
network code, so the state machine runs and is tested without them (docs/STYLE: core imports no torch, Qt or
network)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import app.core

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = (
    "torch",
    "PySide6",
    "shiboken6",  # training and the window
    "libp2p",
    "trio",
    "multiaddr",
    "socket",
    "ssl",
    "http",
    "asyncio",
    "urllib.request",  # the network
    "app.net",
    "app.node",
    "app.pot",
    "app.miner",
    "app.rpc",
    "app.daemon",
    "app.ui",
    "app.wallet",  # the rooms built on core
)


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(app.core.__path__, "app.core."))


def forbidden_after_import(modules: list[str]) -> list[str]:
    """The forbidden modules loaded once `modules` are imported in a new interpreter."""
    code = (
        f"import importlib, json, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout)
    assert set(modules) <= set(loaded)
    return [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]


def test_no_core_module_imports_qt_torch_or_network_code() -> None:
    modules = core_modules()
    assert {"app.core.state", "app.core.types", "app.core.bft.engine"} <= set(modules)
    bad = forbidden_after_import(modules)  # all at once: one interpreter start while the core is clean
    if bad:  # name the module that pulls each one in
        culprits = {m: found for m in modules if (found := forbidden_after_import([m]))}
        raise AssertionError(f"app.core imports {bad}: {culprits}")


def test_the_check_sees_a_network_import() -> None:
    assert "socket" in forbidden_after_import(["app.rpc.endpoint"])  # the RPC endpoint opens sockets
