"""A REAL daemon told to join the test network, whose bootstrap peers cannot be reached: the daemon says so
in `status` and its log, `potminer status` says so, and the window (offscreen) shows it plainly with a
button that switches to the practice network: saved in the daemon's config, the daemon restarts by itself
onto it and the window reconnects."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt

from app import config as cfg
from app.node.chainfiles import bootstrap_json
from tests.daemon.daemon_proc import cli, cli_json, rpc, start_daemon, stop_daemon, wait_for, write_config
from tests.daemon.test_network_reach import dead_peer


def test_unreachable_test_network_is_said_in_status_cli_and_window(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app.ui.main import GuiApp
    from app.ui.widgets.network_choice import RESTART_NOTE

    datadir = tmp_path / "d"
    write_config(datadir, '[network]\nchain = "testnet"\nbootstrap_peers = []\n\n[mining]\nmode = "always"\n')
    boot = tmp_path / "bootstrap.json"
    boot.write_text(bootstrap_json("pot-testnet-1", [dead_peer(), dead_peer()]))
    proc = start_daemon(
        datadir, "--bootstrap-file", str(boot), env={"POTMINER_REACH_GRACE_S": "1", "POTMINER_PRACTICE_VALIDATORS": "1"}
    )
    app = None
    try:
        status = wait_for(
            lambda: (s := cli_json(datadir, "status"))["network"]["island"] and s, 60, "the island report"
        )
        network = status["network"]
        assert (network["state"], network["bootstrap"], network["connected"]) == ("unreachable", 2, 0)
        assert status["node"]["chain_id"] == "pot-testnet-1" and status["mining"]["island"] is True
        assert status["node"]["mode"] == "light"  # a volunteer on the test network is a light client by default
        text = cli(datadir, "status").stdout
        assert "network: NOT REACHED: None of the testnet's 2 bootstrap peers can be reached" in text
        assert "practice network" in text
        logs = cli_json(datadir, "logs")["entries"]
        assert any("bootstrap peers can be reached" in e["message"] and e["level"] == "WARNING" for e in logs)

        app = GuiApp(datadir, cfg.Config(), launch=False)
        qtbot.addWidget(app.window)
        app.start()
        qtbot.waitUntil(app.client.is_ready, timeout=10000)
        banner = app.window.island
        qtbot.waitUntil(lambda: not banner.isHidden(), timeout=15000)
        assert "Not connected to the network" in banner.text.text() and "practice network" in banner.text.text()
        qtbot.waitUntil(lambda: app.window.settings.chain.currentData() == "testnet", timeout=10000)
        qtbot.mouseClick(banner.practice_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: banner.text.text() == RESTART_NOTE, timeout=10000)
        assert 'chain = "devnet"' in (datadir / "config.toml").read_text()
        # the daemon restarts by itself (same process, fresh state) and joins the practice network, and the
        # window reconnects to it: no Quit and reopen. The wait keeps the window's event loop turning, as a
        # real window's does: a blocking wait would freeze it, and with it the window's own `restart` call.
        status = wait_for(
            lambda: _status_on(datadir, "practice"),
            120,
            "the restarted daemon on the practice network",
            sleep=lambda s: qtbot.wait(int(s * 1000)),
        )
        assert status["node"]["mode"] == "full" and status["network"]["island"] is False and proc.poll() is None
        qtbot.waitUntil(lambda: app.model.status.chain.startswith("pot-devnet"), timeout=30000)
        saved = rpc(datadir, "config.get")["config"]["network"]
        assert (saved["chain"], saved["genesis_file"], saved["bootstrap_peers"]) == ("devnet", "", [])
    finally:
        if app is not None:
            app.client.stop()
        stop_daemon(proc)


def _status_on(datadir: Path, network: str) -> dict | None:  # type: ignore[type-arg]
    """The daemon's status once it runs on the practice network (None while it restarts)."""
    done = cli(datadir, "status", "--json", check=False)
    if done.returncode != 0:
        return None
    status = json.loads(done.stdout)
    chain = (status.get("node") or {}).get("chain_id", "")
    return status if network == "practice" and chain.startswith("pot-devnet") else None
