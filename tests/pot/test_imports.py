"""The protocol stands on its own: importing every module of `app.pot` (in a fresh interpreter) pulls in
none of the rooms built on it, so the node's verifier and the miner share one set of rules (issue 15)."""

from __future__ import annotations

import pkgutil

import app.pot
from tests.core.test_imports import forbidden_after_import


def test_no_pot_module_imports_the_miner_node_or_window() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(app.pot.__path__, "app.pot."))
    assert {"app.pot.verify", "app.pot.fraud", "app.pot.engine"} <= set(modules)
    code_rooms = ("app.miner", "app.node", "app.net", "app.rpc", "app.daemon", "app.ui", "app.wallet")
    bad = [m for m in forbidden_after_import(modules) if m.startswith(code_rooms)]
    assert not bad, f"app.pot imports {bad}"
