"""A damaged wallet file (issue 17 row 6): a real daemon starts anyway, and the window's wizard offers
to restore from the seed phrase, saying what happened and that the file is kept."""

from __future__ import annotations

from pathlib import Path

from app.daemon.wallet_service import KEYSTORE
from app.wallet.keystore import ScryptParams
from app.wallet.wallet import Wallet
from tests.daemon.daemon_proc import start_daemon, stop_daemon, write_config


def test_the_window_offers_restore_for_a_damaged_wallet_file(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from app import config as cfg
    from app.ui.main import GuiApp

    path = tmp_path / KEYSTORE
    path.parent.mkdir(parents=True)
    Wallet.create(path, "correct horse battery", "potd", words=12, kdf=ScryptParams(log2_n=10))
    path.write_bytes(b"{}")
    write_config(tmp_path, '[mining]\nmode = "never"\npause_on_battery = false\n')
    proc = start_daemon(tmp_path, "--offline")
    try:
        app = GuiApp(tmp_path, cfg.Config(), launch=False)
        qtbot.addWidget(app.window)
        app.start(hidden=True)
        qtbot.waitUntil(lambda: app.wizard is not None and app.wizard.isVisible(), timeout=15000)
        wizard = app.wizard
        assert wizard.restore_radio.isChecked() and not wizard.create_radio.isChecked()
        assert wizard.damaged_note.isVisibleTo(wizard) and "could not be opened" in wizard.damaged_note.text()
        assert "seed phrase" in wizard.damaged_note.text() and "kept" in wizard.damaged_note.text()
        assert path.read_bytes() == b"{}"  # nothing was touched before the user restores
        app.client.stop()
        wizard.close()
    finally:
        stop_daemon(proc)
