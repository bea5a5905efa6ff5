"""The first-run wizard against a REAL `potminer daemon`: a module of its own, so its daemon has no wallet yet
whatever ran before (tests/ui/conftest.py's devnet_daemon is one per module)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from app.ui.wizard_flow import Step
from app.wallet.export import export_phrase
from app.wallet.wallet import Wallet
from tests.ui.conftest import PASSWORD


def click(qtbot, widget) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def test_wizard_creates_wallet_and_saves_choices(qtbot, gui, devnet_daemon) -> None:  # type: ignore[no-untyped-def]
    assert not devnet_daemon.rpc("status")["wallet"]["exists"], "this module's daemon starts with no wallet"
    qtbot.waitUntil(lambda: gui.wizard is not None and gui.wizard.isVisible(), timeout=10000)
    closed = gui.wizard
    closed.reject()  # closing the wizard is no dead end (issue 16 item 8): the wallet page reopens it
    setup = gui.window.wallet.setup_button
    assert not setup.isHidden()
    setup.click()
    qtbot.waitUntil(lambda: gui.wizard is not closed and gui.wizard.isVisible(), timeout=10000)
    w = gui.wizard
    w.create_radio.setChecked(True)
    click(qtbot, w.next_button)
    assert w.flow.current is Step.PASSWORD
    w.password.setText(PASSWORD)
    w.password_repeat.setText(PASSWORD + "x")
    click(qtbot, w.next_button)
    assert "differ" in w.error.text() and w.flow.current is Step.PASSWORD
    w.password_repeat.setText(PASSWORD)
    click(qtbot, w.next_button)  # the daemon creates the keystore (scrypt): a moment
    qtbot.waitUntil(lambda: w.flow.current is Step.SHOW_SEED, timeout=30000)
    words = w.flow.answers.phrase.split()
    assert len(words) == 24 and w.seed_grid.words == words
    click(qtbot, w.next_button)
    assert w.flow.current is Step.CONFIRM_SEED
    positions = w.flow.answers.confirm_positions
    for field in w.confirm_fields:
        field.setText("wrong")
    click(qtbot, w.next_button)
    assert "does not match" in w.error.text() and w.flow.current is Step.CONFIRM_SEED
    for pos, field in zip(positions, w.confirm_fields):
        field.setText(words[pos])
    click(qtbot, w.next_button)
    assert w.flow.current is Step.DEVICE
    qtbot.waitUntil(lambda: w.device.findData("cpu") >= 0, timeout=10000)  # the daemon's mine.devices
    w.device.setCurrentIndex(w.device.findData("cpu"))
    click(qtbot, w.next_button)
    w.always_radio.setChecked(True)
    click(qtbot, w.next_button)
    assert w.flow.current is Step.NETWORK and w.network_radios["devnet"].isChecked(), "the saved network is offered"
    before = devnet_daemon.rpc("config.get")["config"]["network"]
    with qtbot.waitSignal(w.accepted, timeout=10000):
        click(qtbot, w.next_button)
    assert devnet_daemon.rpc("config.get")["config"]["network"] == before, "keeping the network changes nothing"
    assert not w.network_changed

    # the daemon has the wallet, the choices are in its config, and the phrase shown is the wallet's
    status = devnet_daemon.rpc("status")
    assert status["wallet"]["exists"] and not status["wallet"]["locked"]
    mining = devnet_daemon.rpc("config.get")["config"]["mining"]
    assert (mining["mode"], mining["device"]) == ("always", "cpu")
    keystore = Wallet(devnet_daemon.data_dir / "wallet" / "wallet.keystore", "potd")
    assert export_phrase(keystore, PASSWORD)[0] == " ".join(words)
    spending = status["wallet"]["addresses"]["spending"]
    qtbot.waitUntil(lambda: gui.window.wallet.address.text() == spending, timeout=10000)
    assert gui.window.wallet.qr.matrix, "the receive address has a QR code"
