"""Secrets on screen: the password dialog, the seed phrase grid, and the warning before any key export.

Nothing here keeps a secret longer than the dialog showing it; fields are masked by default and the
seed grid is selectable but shown only on request.
"""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

EXPORT_WARNINGS = {
    "phrase": (
        "Show the seed phrase",
        "Anyone who sees these words can take every coin in this wallet, now and later. "
        "Show them only to write them down on paper, with no one watching and no screen sharing.",
    ),
    "raw_key": (
        "Show the raw private key",
        "Anyone who has this key can spend from this wallet. Paste it only into software you trust, "
        "and never send it to anyone: no support team will ever ask for it.",
    ),
    "reward_key": (
        "Show the reward key",
        "Anyone who has this key can take the rewards not yet moved to your spending account. Paste "
        "it only into software you trust, and never send it to anyone.",
    ),
    "keystore": (
        "Export the keystore file",
        "The file is encrypted with your password; keep it and the password apart. "
        "Anyone with both can spend from this wallet.",
    ),
}


def password_field(placeholder: str = "Password") -> QLineEdit:
    field = QLineEdit()
    field.setEchoMode(QLineEdit.EchoMode.Password)
    field.setPlaceholderText(placeholder)
    return field


class PasswordDialog(QDialog):
    """Asks for the wallet password, after a warning; the OK button stays off until both are given
    (`acknowledge=""`: no box to tick, the password alone)."""

    def __init__(
        self, title: str, warning: str, parent: QWidget | None = None, acknowledge: str = "I understand the risk"
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("passwordDialog")
        layout = QVBoxLayout(self)
        self.warning = QLabel(warning)
        self.warning.setWordWrap(True)
        self.warning.setObjectName("warningText")
        layout.addWidget(self.warning)
        self.ack = QCheckBox(acknowledge or "")
        self.ack.setChecked(not acknowledge)  # no acknowledgement asked: nothing to tick
        self.ack.setVisible(bool(acknowledge))
        layout.addWidget(self.ack)
        self.password = password_field("Wallet password")
        layout.addWidget(self.password)
        self.error = QLabel("")
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        layout.addWidget(self.error)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self.ack.toggled.connect(self._update)
        self.password.textChanged.connect(self._update)
        self._update()

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.ack.isChecked() and bool(self.password.text()))

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.password.selectAll()
        self.password.setFocus()

    def ask(self, call: Callable[[str], Any], on_done: Callable[[Any], None] | None = None) -> None:
        """Open; on OK send `call(password)` (a pending RPC call with `.then`). Success closes the dialog
        and hands the result to `on_done`; a refusal (a wrong password) keeps it open with the message."""

        def attempt() -> None:
            self.buttons.setEnabled(False)
            call(self.password.text()).then(done, failed)

        def done(result: Any) -> None:
            self.buttons.setEnabled(True)
            self.done(1)
            if on_done is not None:
                on_done(result)

        def failed(error: Any) -> None:
            self.buttons.setEnabled(True)
            self.show_error(f"{error.message}. Try again, or Cancel.")

        self.buttons.accepted.disconnect()
        self.buttons.accepted.connect(attempt)
        self.open()


class SeedGrid(QWidget):
    """The words of a seed phrase, numbered, in columns of six; the text is selectable for copying."""

    def __init__(self, phrase: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setHorizontalSpacing(24)
        self.set_phrase(phrase)

    def set_phrase(self, phrase: str) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        words = phrase.split()
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        mono.setPointSize(mono.pointSize() + 2)
        for i, word in enumerate(words):
            label = QLabel(f"{i + 1:>2}. {word}")
            label.setFont(mono)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            # never narrower than its text: a squeezed column clipped "priority" to "priorit"
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(label.text()) + 4)
            self._grid.addWidget(label, i % 6, i // 6)
        self.words = words


class SecretDialog(QDialog):
    """Shows an exported secret once; closing it is the only action."""

    def __init__(self, title: str, secret: str, note: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        layout = QVBoxLayout(self)
        label = QLabel(note)
        label.setWordWrap(True)
        layout.addWidget(label)
        if len(secret.split()) >= 12:
            self.view: QWidget = SeedGrid(secret)
        else:
            text = QPlainTextEdit(secret)
            text.setReadOnly(True)
            text.setMaximumHeight(80)
            self.view = text
        layout.addWidget(self.view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
