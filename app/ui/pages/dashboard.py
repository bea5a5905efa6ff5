"""Dashboard: the one big start/pause switch, the state and why, the task and its loss curve, the numbers."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import card, hint, title, value_label
from app.ui.widgets.charts import LineChart

STATE_TEXT = {
    "off": "Not mining",
    "waiting": "Waiting for the computer to be idle",
    "mining": "Mining",
    "paused": "Paused",
    "syncing": "Syncing the chain",
    "error": "Stopped by an error",
}


def state_line(info: api.MiningInfo) -> str:
    head = STATE_TEXT.get(info.state, info.state.capitalize())
    if not info.reason:
        return head
    return info.reason if info.reason.lower().startswith(head.lower()) else f"{head}: {info.reason}"


class DashboardPage(QWidget):
    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.addWidget(title("Dashboard"))

        top = QHBoxLayout()
        self.switch = QPushButton("Start mining")
        self.switch.setObjectName("miningSwitch")
        self.switch.setCheckable(True)
        self.switch.setToolTip("Start or pause training for the network. Rewards go to your wallet.")
        self.switch.clicked.connect(self._on_switch)
        top.addWidget(self.switch)
        state_box = QVBoxLayout()
        self.state = QLabel(STATE_TEXT["off"])
        self.state.setObjectName("stateText")
        self.state.setWordWrap(True)
        state_box.addWidget(self.state)
        self.task = hint("No task yet.")
        state_box.addWidget(self.task)
        self.progress = QProgressBar()
        self.progress.setFormat("round progress: %p%")
        state_box.addWidget(self.progress)
        top.addLayout(state_box, 1)
        layout.addLayout(top)

        grid = QGridLayout()
        self.throughput = value_label()
        self.throughput.setToolTip("training samples per second")
        self.load = value_label()
        self.temperature = value_label()
        self.rewards_today = value_label()
        for col, (heading, widget) in enumerate((
            ("Throughput", self.throughput), ("Device load", self.load),
            ("Temperature", self.temperature), ("Rewards today", self.rewards_today),
        )):
            grid.addWidget(card(heading, widget), 0, col)
        layout.addLayout(grid)

        self.loss = LineChart("The validation-loss curve appears once training starts.", ".3f")
        layout.addWidget(card("Validation loss of the current round", self.loss), 1)

        model.miningChanged.connect(self.show_mining)
        model.actionFailed.connect(lambda *_: self.show_mining(self.model.mining))  # undo the click
        model.connectionChanged.connect(lambda *_: self._update_enabled())
        model.statusChanged.connect(lambda *_: self._update_enabled())
        self._update_enabled()

    def _update_enabled(self) -> None:
        ready = self.model.client.is_ready() and self.model.status.wallet_info.exists
        self.switch.setEnabled(ready)
        if not self.model.client.is_ready():
            self.switch.setToolTip("Waiting for the background service (daemon) to answer.")
        elif not self.model.status.wallet_info.exists:
            self.switch.setToolTip("Create or restore a wallet first: rewards need an address.")
        else:
            self.switch.setToolTip("Start or pause training for the network. Rewards go to your wallet.")

    def _on_switch(self, checked: bool) -> None:
        self.switch.setEnabled(False)  # until the daemon confirms the new state
        (self.model.start_mining if checked else self.model.pause_mining)()

    def show_mining(self, info: api.MiningInfo) -> None:
        running = info.state in ("mining", "waiting")
        self.switch.setChecked(running)
        self.switch.setText("Pause mining" if running else ("Resume mining" if info.state == "paused" else "Start mining"))
        self._update_enabled()
        self.state.setText(state_line(info))
        if info.task_id:
            self.task.setText(f"Task: {info.task_name or info.task_id} · round {info.round} · "
                              f"step {info.step} of {info.total_steps or '?'} · device {info.device or '?'}")
        self.progress.setMaximum(max(info.total_steps, 1))
        self.progress.setValue(min(info.step, max(info.total_steps, 1)))
        self.throughput.setText(f"{info.throughput:,.0f} /s" if info.state == "mining" else "—")
        self.load.setText(f"{info.device_load:.0f} %" if info.device_load is not None else "unknown")
        self.temperature.setText(f"{info.temperature_c:.0f} °C" if info.temperature_c is not None else "unknown")
        self.rewards_today.setText(api.format_pot(info.rewards_today))
        self.loss.set_points(info.loss_curve)
