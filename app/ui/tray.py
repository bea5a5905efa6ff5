"""The tray icon: status in the tooltip, start/pause, show, quit; a notification for each reward.

Closing the window hides it to the tray when the user chose so and the desktop has a tray (Electrum
#720/#3381: without a tray, closing must quit, or the app would be unreachable).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.dashboard import state_line

STATE_COLORS = {"mining": "#2e9d5b", "waiting": "#d9a21b", "paused": "#8a9099", "off": "#8a9099", "error": "#d64545"}


def state_icon(state: str) -> QIcon:
    """A round badge coloured by mining state (drawn, so no icon files are needed)."""
    pix = QPixmap(64, 64)
    pix.fill(QColor(0, 0, 0, 0))
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(QColor(STATE_COLORS.get(state, "#8a9099")))
    painter.setPen(QColor("#20242a"))
    painter.drawEllipse(4, 4, 56, 56)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setPixelSize(30)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(pix.rect(), 0x84, "P")  # AlignCenter
    painter.end()
    return QIcon(pix)


class Tray(QObject):
    showRequested = Signal()
    quitRequested = Signal()

    def __init__(self, model: DaemonModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.icon = QSystemTrayIcon(state_icon("off"), self)
        self.menu = QMenu()
        self.status_action = QAction("Not connected", self.menu)
        self.status_action.setEnabled(False)
        self.toggle_action = QAction("Start mining", self.menu)
        self.toggle_action.triggered.connect(self._toggle)
        show = QAction("Show PoT Miner", self.menu)
        show.triggered.connect(self.showRequested)
        quit_action = QAction("Quit", self.menu)
        quit_action.triggered.connect(self.quitRequested)
        for action in (self.status_action, self.toggle_action, show):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(quit_action)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.notifications: list[tuple[str, str]] = []  # what was shown, newest last (tests read it)
        model.miningChanged.connect(self.show_mining)
        model.rewardReceived.connect(self.notify_reward)
        model.warning.connect(lambda text: self.notify("PoT Miner", text))

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        if self.available():
            self.icon.show()

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.showRequested.emit()

    def _toggle(self) -> None:
        if self.model.mining.state in ("mining", "waiting"):
            self.model.pause_mining()
        else:
            self.model.start_mining()

    def show_mining(self, info: api.MiningInfo) -> None:
        self.icon.setIcon(state_icon(info.state))
        text = state_line(info)
        self.icon.setToolTip(f"PoT Miner: {text}")
        self.status_action.setText(text if len(text) < 60 else text[:57] + "…")
        self.toggle_action.setText("Pause mining" if info.state in ("mining", "waiting") else "Start mining")

    def notify_reward(self, grains: int, task: str, unlock_height: int | None = None) -> None:
        text = f"{api.format_pot(grains)} for training {task or 'a task'}."
        if unlock_height is not None:
            text += f" It is vesting until block {unlock_height}, then it becomes spendable."
        self.notify("Reward received", text)

    def notify(self, heading: str, text: str) -> None:
        self.notifications.append((heading, text))
        if self.available() and self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(heading, text, QSystemTrayIcon.MessageIcon.Information, 8000)
