"""The window against a daemon: wizard, mining switch, rewards in history and chart, send refusal, export."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from app.ui.wizard_flow import Step
from tests.ui.conftest import PASSWORD


def finish_wizard_create(qtbot, gui) -> str:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: gui.wizard is not None and gui.wizard.isVisible(), timeout=5000)
    w = gui.wizard
    w.create_radio.setChecked(True)
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    assert w.flow.current is Step.PASSWORD
    w.password.setText(PASSWORD)
    w.password_repeat.setText(PASSWORD + "x")
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    assert "differ" in w.error.text() and w.flow.current is Step.PASSWORD
    w.password_repeat.setText(PASSWORD)
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.flow.current is Step.SHOW_SEED, timeout=10000)
    words = w.flow.answers.phrase.split()
    assert len(words) == 12 and w.seed_grid.words == words
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    assert w.flow.current is Step.CONFIRM_SEED
    positions = w.flow.answers.confirm_positions
    for pos, field in zip(positions, w.confirm_fields):
        field.setText("wrong")
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    assert "does not match" in w.error.text() and w.flow.current is Step.CONFIRM_SEED
    for pos, field in zip(positions, w.confirm_fields):
        field.setText(words[pos])
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    assert w.flow.current is Step.DEVICE
    qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    w.always_radio.setChecked(True)
    with qtbot.waitSignal(w.accepted, timeout=5000):
        qtbot.mouseClick(w.next_button, Qt.MouseButton.LeftButton)
    return " ".join(words)


def test_wizard_creates_wallet_and_saves_choices(qtbot, gui, daemon) -> None:  # type: ignore[no-untyped-def]
    phrase = finish_wizard_create(qtbot, gui)
    assert daemon.wallet is not None and (daemon.data_dir / "wallet.json").exists()
    assert daemon.config.mining.mode.value == "always"
    # the phrase shown is the wallet's: exporting it with the password gives the same words
    from app.wallet.export import export_phrase

    assert export_phrase(daemon.wallet, PASSWORD)[0] == phrase
    qtbot.waitUntil(lambda: gui.window.wallet.address.text() == daemon.wallet.spending_address, timeout=5000)
    assert gui.window.wallet.qr.matrix, "the receive address has a QR code"


def test_switch_mines_round_progresses_reward_in_history_and_chart(qtbot, gui, daemon) -> None:  # type: ignore[no-untyped-def]
    daemon.rpc_wallet_create(PASSWORD, 12)
    gui.model.refresh_status()
    dash = gui.window.dashboard
    qtbot.waitUntil(dash.switch.isEnabled, timeout=5000)
    if gui.wizard is not None:
        gui.wizard.close()
    qtbot.mouseClick(dash.switch, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.model.mining.state == "mining" and dash.progress.value() > 0, timeout=5000)
    assert dash.state.text().startswith("Mining") and dash.switch.text() == "Pause mining"
    first = dash.progress.value()
    qtbot.waitUntil(lambda: dash.progress.value() > first or gui.model.mining.round > 1, timeout=5000)
    qtbot.waitUntil(lambda: len(dash.loss.points) >= 2, timeout=5000)
    # a verified round pays a reward: it shows in the history, the earnings chart and the tray
    qtbot.waitUntil(lambda: gui.model.history.rowCount() > 0, timeout=10000)
    row = gui.model.history.records[0]
    assert row.kind == "reward" and row.amount > 0
    assert gui.model.history.data(gui.model.history.index(0, 1)) == "Reward"
    earnings = gui.window.earnings
    qtbot.waitUntil(lambda: earnings.chart.total() > 0, timeout=5000)
    assert earnings.chart.total() * 10**9 >= row.amount
    assert any(h == "Reward received" for h, _ in gui.tray.notifications)
    qtbot.mouseClick(dash.switch, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: gui.model.mining.state == "paused", timeout=5000)
    assert dash.switch.text() == "Resume mining" and "Paused" in dash.state.text()


def test_send_with_bad_address_is_refused_with_a_message(qtbot, gui, daemon) -> None:  # type: ignore[no-untyped-def]
    daemon.rpc_wallet_create(PASSWORD, 12)
    daemon.credit_reward(5 * 10**9, "mnist-mlp", 1)
    gui.model.refresh_status()
    form = gui.window.wallet.send_form
    qtbot.waitUntil(form.isEnabled, timeout=5000)
    good = daemon.wallet.spending_address
    bad = good[:-1] + ("q" if good[-1] != "q" else "p")  # one character off: the checksum fails
    form.to.setText(bad)
    qtbot.waitUntil(lambda: form.address_ok is False, timeout=5000)
    assert "not valid" in form.message.text()
    form.amount.setText("1")
    form.password.setText(PASSWORD)
    qtbot.mouseClick(form.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.message.text().startswith("Not sent"), timeout=5000)
    assert "Check the address" in form.message.text()
    assert daemon.balance == 5 * 10**9, "nothing left the wallet"
    form.to.setText(good)
    qtbot.mouseClick(form.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.message.text().startswith("Sent"), timeout=5000)
    assert daemon.balance < 5 * 10**9


def test_export_asks_for_the_password(qtbot, gui, daemon) -> None:  # type: ignore[no-untyped-def]
    daemon.rpc_wallet_create(PASSWORD, 12)
    gui.model.refresh_status()
    page = gui.window.wallet
    qtbot.waitUntil(lambda: page.export_buttons["raw_key"].isEnabled(), timeout=5000)
    qtbot.mouseClick(page.export_buttons["raw_key"], Qt.MouseButton.LeftButton)
    dialog = page.last_dialog
    assert dialog is not None and dialog.isVisible() and "spend" in dialog.warning.text()
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled(), "nothing is exported before the warning is acknowledged and a password given"
    dialog.ack.setChecked(True)
    dialog.password.setText("not the password")
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "wrong password" in dialog.error.text(), timeout=5000)
    assert dialog.isVisible()
    dialog.password.setText(PASSWORD)
    with qtbot.waitSignal(dialog.finished, timeout=5000):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
