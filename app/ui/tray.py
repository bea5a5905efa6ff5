"""The tray icon: status in the tooltip, start/pause, pause for 1 hour, show, quit; reward notifications,
at most one every few minutes (several rewards in between are summed in the next one).

Closing the window hides it to the tray when the user chose so and the desktop has a tray (Electrum
#720/#3381: without a tray, closing must quit, or the app would be unreachable).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.dashboard import state_line

REWARD_NOTICE_EVERY_S = 300.0  # a round every few seconds must not mean a notification every few seconds
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

    def __init__(
        self, model: DaemonModel, parent: QObject | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._clock = clock
        self._last_reward_notice: float | None = None
        self._held: list[tuple[int, int | None]] = []  # rewards not yet told: (grains, unlock height)
        self._flush = QTimer(self, singleShot=True)
        self._flush.timeout.connect(self._notify_held)
        self.icon = QSystemTrayIcon(state_icon("off"), self)
        self.menu = QMenu()
        self.status_action = QAction("Not connected", self.menu)
        self.status_action.setEnabled(False)
        self.toggle_action = QAction("Start mining", self.menu)
        self.toggle_action.triggered.connect(self._toggle)
        self.snooze_action = QAction("Pause for 1 hour", self.menu)
        self.snooze_action.triggered.connect(lambda: self.model.snooze_mining(60))
        show = QAction("Show PoT Miner", self.menu)
        show.triggered.connect(self.showRequested)
        quit_action = QAction("Quit", self.menu)
        quit_action.triggered.connect(self.quitRequested)
        for action in (self.status_action, self.toggle_action, self.snooze_action, show):
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
        self.snooze_action.setEnabled(info.state in ("mining", "waiting"))

    def notify_reward(self, grains: int, task: str, unlock_height: int | None = None) -> None:
        """The first reward is told at once; later ones at most every REWARD_NOTICE_EVERY_S, summed."""
        self._held.append((int(grains), unlock_height))
        now = self._clock()
        wait = 0.0 if self._last_reward_notice is None else REWARD_NOTICE_EVERY_S - (now - self._last_reward_notice)
        if wait <= 0:
            self._notify_held(task)
        elif not self._flush.isActive():
            self._flush.start(int(wait * 1000))

    def _notify_held(self, task: str = "") -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        self._last_reward_notice = self._clock()
        total = sum(g for g, _ in held)
        vesting = [h for _, h in held if h is not None]
        if len(held) == 1:
            text = f"{api.format_pot(total)} for training {task or 'a task'}."
        else:
            text = f"{len(held)} rewards, {api.format_pot(total)} in all, for your training."
        if vesting:
            text += (
                f" {'It is' if len(held) == 1 else 'They are'} vesting until block {max(vesting)}, then "
                f"{'it becomes' if len(held) == 1 else 'they become'} spendable."
            )
        self.notify("Reward received", text)

    def notify(self, heading: str, text: str) -> None:
        self.notifications.append((heading, text))
        if self.available() and self.icon.isVisible() and QSystemTrayIcon.supportsMessages():
            self.icon.showMessage(heading, text, QSystemTrayIcon.MessageIcon.Information, 8000)
