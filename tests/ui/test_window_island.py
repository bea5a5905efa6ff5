"""A REAL daemon told to join the test network, whose bootstrap peers cannot be reached: the daemon says so
in `status` and its log, `potminer status` says so, and the window (offscreen) shows it plainly with a
button that switches to the practice network (saved in the daemon's config, for its next start)."""

from __future__ import annotations

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
    proc = start_daemon(datadir, "--bootstrap-file", str(boot), env={"POTMINER_REACH_GRACE_S": "1"})
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
        saved = rpc(datadir, "config.get")["config"]["network"]
        assert (saved["chain"], saved["genesis_file"], saved["bootstrap_peers"]) == ("devnet", "", [])
        assert 'chain = "devnet"' in (datadir / "config.toml").read_text()
    finally:
        if app is not None:
            app.client.stop()
        stop_daemon(proc)
