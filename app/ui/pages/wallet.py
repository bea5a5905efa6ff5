"""Wallet: balance, receive (address, QR, copy), send (address check, fee, password, confirmation), the
two keys (which holds what, move rewards to spending in one action), history, key export."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.rpc.protocol import RpcError
from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import card, hint, title, value_label
from app.ui.widgets.qr import QrWidget
from app.ui.widgets.secrets import EXPORT_WARNINGS, PasswordDialog, SecretDialog, password_field


class SendForm(QWidget):
    """Recipient, amount, fee and memo; the address is checked by the daemon as it is typed."""

    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        form = QFormLayout(self)
        self.account = QComboBox()
        self.account.setToolTip(
            "Mining rewards arrive in the rewards account; transfers you receive in the "
            "spending account. Either can pay."
        )
        self.account.addItem("Spending account", "spending")
        self.account.addItem("Rewards account", "reward")
        self.account.activated.connect(lambda _i: setattr(self, "account_chosen", True))
        self.account_chosen = False
        self.to = QLineEdit()
        self.to.setPlaceholderText("potd1… address of the recipient")
        self.amount = QLineEdit()
        self.amount.setPlaceholderText("e.g. 1.5")
        self.fee = QLineEdit()
        self.memo = QLineEdit()
        self.memo.setMaxLength(128)
        self.memo.setPlaceholderText("optional note, public on the chain")
        self.password = password_field("Wallet password, to sign")
        self.message = QLabel("")
        self.message.setWordWrap(True)  # its own full-width row: a long refusal is never cut off
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button = QPushButton("Send…")
        form.addRow("From", self.account)
        form.addRow("To", self.to)
        form.addRow("Amount (POT)", self.amount)
        form.addRow("Fee (POT)", self.fee)
        form.addRow("Memo", self.memo)
        form.addRow("Password", self.password)
        form.addRow(self.button)
        form.addRow(self.message)
        self.confirm_box: QMessageBox | None = None  # the open "Send X to Y?" question, if any
        self.button.clicked.connect(self.send)
        self._check_timer = QTimer(self, singleShot=True, interval=300)
        self._check_timer.timeout.connect(self._check_address)
        self.to.textChanged.connect(lambda _t: self._check_timer.start())
        model.client.ready.connect(lambda _i: self._estimate_fee())
        model.balanceChanged.connect(self.show_balance)
        self.address_ok: bool | None = None
        self._address_message = ""  # the complaint about the address shown, if any

    def show_balance(self, balance: api.Balance) -> None:
        """Each account with what it holds; the fuller one is picked until the user picks."""
        for i, (name, grains) in enumerate(
            (("Spending account", balance.spending), ("Rewards account", balance.reward))
        ):
            self.account.setItemText(i, f"{name} ({api.format_pot(grains)})")
        if not self.account_chosen:
            self.account.setCurrentIndex(1 if balance.reward > balance.spending else 0)

    def _estimate_fee(self) -> None:
        """The daemon's suggested fee, unless the user typed one."""

        def show(result: object) -> None:
            if isinstance(result, dict) and not self.fee.isModified():
                self.fee.setText(api.format_pot(int(result.get("fee", 0)), unit=False))

        self.model.call(api.WALLET_FEE).then(show)

    def _check_address(self) -> None:
        text = self.to.text().strip()
        if not text:
            self.address_ok = None
            if self.message.text() == self._address_message:
                self.show_message("")
            return
        self.model.call(api.WALLET_CHECK_ADDRESS, {"address": text}).then(lambda r: self._on_check(text, r))

    def _on_check(self, text: str, result: Any) -> None:
        if text != self.to.text().strip() or not isinstance(result, dict):
            return  # the field changed meanwhile
        self.address_ok = bool(result.get("valid"))
        if not self.address_ok:
            self.show_message(
                f"This address is not valid: {result.get('reason', '')}. "
                "Check it, or paste it again from the recipient.",
                error=True,
            )
            self._address_message = self.message.text()
        elif self.message.text() == self._address_message:  # clear only our own complaint, not a send's result
            self.show_message("")

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setObjectName("errorText" if error else "hint")
        self.message.setStyleSheet("")  # re-polish for the new object name
        self.message.setText(text)

    def send(self) -> None:
        try:
            amount = api.parse_pot(self.amount.text())
            fee = api.parse_pot(self.fee.text() or "0")
        except ValueError as exc:
            self.show_message(str(exc), error=True)
            return
        if not self.to.text().strip():
            self.show_message("Enter the recipient's address.", error=True)
            return
        if amount <= 0:
            self.show_message("The amount must be more than zero.", error=True)
            return
        if not self.password.text():
            self.show_message("Enter your wallet password to sign the transfer.", error=True)
            return
        params = api.send_params(
            self.to.text().strip(), amount, fee, self.memo.text(), self.password.text(), self.account.currentData()
        )
        self.confirm(params, amount, fee)

    def confirm(self, params: dict[str, Any], amount: int, fee: int) -> None:
        """Ask "send X to Y?" before anything leaves the wallet (a window-modal question, not blocking)."""
        account = "rewards" if params["account"] == "reward" else "spending"
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Confirm the transfer",
            f"Send {api.format_pot(amount)} to\n{params['to']}\nfrom your {account} account, "
            f"with a fee of {api.format_pot(fee)}?\n\nA transfer cannot be undone.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.button(QMessageBox.StandardButton.Yes).setText("Send")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(lambda: self._submit(params))
        box.rejected.connect(lambda: self.show_message("Not sent: cancelled."))
        self.confirm_box = box
        box.open()

    def _submit(self, params: dict[str, Any]) -> None:
        self.confirm_box = None
        self.button.setEnabled(False)
        self.show_message("Sending…")
        self.model.call(api.WALLET_SEND, params).then(self._sent, self._refused)

    def _sent(self, result: Any) -> None:
        self.button.setEnabled(True)
        self.password.clear()
        tx = result.get("tx_id", "") if isinstance(result, dict) else ""
        self.show_message(f"Sent. Transaction {tx[:16]}… will show in the history once in a block.")
        for field in (self.to, self.amount, self.memo):
            field.clear()
        self.model.refresh_wallet()

    def _refused(self, error: RpcError) -> None:
        self.button.setEnabled(True)
        advice = {
            api.INVALID_ADDRESS: " Check the address.",
            api.INSUFFICIENT_FUNDS: " Lower the amount or the fee.",
        }.get(api.error_detail(error), "")
        if error.code == api.WRONG_PASSWORD:
            advice = " Type the password again."
            self.password.selectAll()
        self.show_message(f"Not sent: {error.message}.{advice}", error=True)


class WalletPage(QWidget):
    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.addWidget(title("Wallet"))
        self.no_wallet = hint("No wallet yet. The first-run assistant creates or restores one.")
        self.setup_button = QPushButton("Set up a wallet…")
        self.setup_button.setToolTip(
            "Open the first-run assistant again: create a wallet, restore one from its seed phrase, or import a key."
        )
        layout.addWidget(self.no_wallet)
        layout.addWidget(self.setup_button)

        grid = QGridLayout()
        self.balance = value_label()
        self.balance_detail = hint("")
        grid.addWidget(card("Balance", self.balance, self.balance_detail), 0, 0)

        grid.addWidget(card("Receive", self._receive_box()), 1, 0)

        self.send_form = SendForm(model)
        send_card = card("Send", self.send_form)
        send_card.layout().addStretch(1)  # the form at the top of its card, not floating in the middle
        grid.addWidget(send_card, 0, 1, 2, 1)
        layout.addLayout(grid)

        layout.addWidget(card("Keys", self._keys_box()))

        self.table = QTableView()
        self.table.setModel(model.history)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        # Fixed widths: ResizeToContents would call data() for every cell at each refresh (a frame of 200 ms).
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, width in enumerate((130, 90, 150, 100, 300)):
            self.table.setColumnWidth(column, width)
        layout.addWidget(card("History", self.table), 1)

        model.balanceChanged.connect(self.show_balance)
        model.addressesChanged.connect(self.show_addresses)
        model.keysChanged.connect(self.show_key_roles)
        model.statusChanged.connect(self._show_wallet_presence)
        self._show_wallet_presence(model.status)
        self.last_dialog: PasswordDialog | None = None
        self.last_secret: SecretDialog | None = None

    def _receive_box(self) -> QWidget:
        """The address to be paid at, as text and QR code, with a copy button."""
        self.address = QLabel("—")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.address.setWordWrap(True)
        self.qr = QrWidget()
        self.copy = QPushButton("Copy address")
        self.copy.clicked.connect(self.copy_address)
        receive = QWidget()
        rl = QHBoxLayout(receive)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.qr)
        col = QVBoxLayout()
        col.addWidget(hint("Give this address to be paid. Mining rewards arrive on their own."))
        col.addWidget(self.address)
        col.addWidget(self.copy)
        col.addStretch(1)
        rl.addLayout(col, 1)
        return receive

    def _keys_box(self) -> QWidget:
        """Which key holds what, the rewards sweep, and the export buttons."""
        self.key_roles = hint("")
        self.sweep_button = QPushButton("Move rewards to spending account")
        self.sweep_button.setToolTip(
            "One transfer of every spendable reward to your spending account, whose key "
            "stays encrypted. No password needed: it can only go to your own account."
        )
        self.sweep_button.clicked.connect(self.sweep)
        self.sweep_message = hint("")
        keys_box = QWidget()
        kb = QVBoxLayout(keys_box)
        kb.setContentsMargins(0, 0, 0, 0)
        kb.addWidget(self.key_roles)
        row = QHBoxLayout()
        row.addWidget(self.sweep_button)
        row.addWidget(self.sweep_message, 1)
        kb.addLayout(row)
        keys = QHBoxLayout()
        self.export_buttons = {}
        for kind, text in (
            ("phrase", "Show seed phrase…"),
            ("keystore", "Export keystore file…"),
            ("raw_key", "Show spending key…"),
            ("reward_key", "Show reward key…"),
        ):
            button = QPushButton(text)
            button.clicked.connect(lambda _c=False, k=kind: self.export(k))
            keys.addWidget(button)
            self.export_buttons[kind] = button
        keys.addStretch(1)
        kb.addLayout(keys)
        return keys_box

    def _show_wallet_presence(self, status: api.Status) -> None:
        exists = status.wallet_info.exists
        self.no_wallet.setVisible(not exists)
        self.setup_button.setVisible(not exists)
        for button in self.export_buttons.values():
            button.setEnabled(exists)
        self.send_form.setEnabled(exists)

    def show_balance(self, balance: api.Balance) -> None:
        self.balance.setText(balance.summary)
        self.balance_detail.setText(
            f"spending account {api.format_pot(balance.spending)} · "
            f"rewards account {api.format_pot(balance.reward)}"
            + (" · vesting rewards unlock a few blocks after they are paid" if balance.pending else "")
        )

    def show_key_roles(self, roles: api.KeyRoles) -> None:
        self.key_roles.setText(roles.text())
        self.sweep_button.setVisible(not roles.single_key)
        self.export_buttons["reward_key"].setVisible(not roles.single_key)

    def sweep(self) -> None:
        """Move the spendable rewards to the spending account (the daemon signs with the reward key)."""
        self.sweep_button.setEnabled(False)
        self.sweep_message.setText("Moving…")

        def done(result: Any) -> None:
            self.sweep_button.setEnabled(True)
            amount = result.get("amount_text", "") if isinstance(result, dict) else ""
            self.sweep_message.setText(f"Moved {amount} POT to your spending account; it shows once in a block.")
            self.model.refresh_wallet()

        def refused(error: RpcError) -> None:
            self.sweep_button.setEnabled(True)
            self.sweep_message.setText(f"Not moved: {error.message}.")

        self.model.call(api.WALLET_SWEEP, {}).then(done, refused)

    def show_addresses(self, addresses: dict[str, str]) -> None:
        address = addresses.get("spending") or addresses.get("reward", "")
        self.address.setText(address or "—")
        self.qr.set_text(address)

    def copy_address(self) -> None:
        if self.qr.text:
            QGuiApplication.clipboard().setText(self.qr.text)
            self.copy.setText("Copied")
            QTimer.singleShot(1500, lambda: self.copy.setText("Copy address"))

    # -- export ------------------------------------------------------------------------------
    def export(self, kind: str) -> None:
        """Warn, ask the password, then ask the daemon; a wrong password keeps the dialog open."""
        heading, warning = EXPORT_WARNINGS[kind]
        what, role = ("raw_key", "reward") if kind == "reward_key" else (kind, "spending")
        path = ""
        if kind == "keystore":
            path, _ = QFileDialog.getSaveFileName(
                self, "Export keystore file", "potminer-keystore.json", "Keystore (*.json)"
            )
            if not path:
                return
        dialog = PasswordDialog(heading, warning, self)
        self.last_dialog = dialog
        dialog.setModal(True)
        dialog.ask(
            lambda password: self.model.call(api.WALLET_EXPORT, api.export_params(what, password, path, role)),
            lambda result: self._show_export(kind, result if isinstance(result, dict) else {}),
        )

    def _show_export(self, kind: str, result: dict[str, Any]) -> None:
        if kind == "keystore":
            QMessageBox.information(
                self,
                "Keystore exported",
                f"Written to {api.export_secret(kind, result)}. It opens only with your password.",
            )
            return
        secret = api.export_secret("raw_key" if kind == "reward_key" else kind, result)
        note = {
            "phrase": "Write these words on paper, in order, and keep it safe. Close this window when done.",
            "raw_key": "Your spending key. Close this window as soon as you are done.",
            "reward_key": "Your reward key: the one mining rewards arrive on. Close this window as soon as "
            "you are done.",
        }[kind]
        if result.get("passphrase"):
            note += " This wallet also uses a passphrase; you need it too."
        self.last_secret = SecretDialog(EXPORT_WARNINGS[kind][0], secret, note, self)
        self.last_secret.open()
