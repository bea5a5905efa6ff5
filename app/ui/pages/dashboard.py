"""Dashboard: the one big start/pause switch, the state and why, the task and its loss curve, the numbers."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import card, hint, title, value_label
from app.ui.widgets.charts import LineChart
from app.ui.widgets.secrets import PasswordDialog

STATE_TEXT = {
    "off": "Not mining",
    "waiting": "Waiting for the computer to be idle",
    "mining": "Mining",
    "paused": "Paused",
    "syncing": "Syncing the chain",
    "error": "Stopped by an error",
}


def state_line(info: api.MiningInfo) -> str:
    """The daemon's own sentence when it sent one (it says why), else the state's name."""
    return info.text or STATE_TEXT.get(info.state, info.state.capitalize())


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

        charts = QHBoxLayout()
        self.validation = LineChart("The task's validation loss appears once its rounds close on the chain.", ".3f",
                                    x_name="round")
        self.validation.setToolTip("Validation loss of the task's model after each closed round (from the chain)")
        charts.addWidget(card("Validation loss of the task (by round)", self.validation), 3)
        self.loss = LineChart("The loss curve appears once a round is training.", ".3f")
        charts.addWidget(card("Training loss of this round (by step)", self.loss), 2)
        layout.addLayout(charts, 1)
        self._history_task = ""

        model.miningChanged.connect(self.show_mining)
        model.taskHistoryChanged.connect(self.show_task_history)
        model.historyChanged.connect(lambda: self.rewards_today.setText(api.format_pot(self.model.rewards_today())))
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
        if checked and self.model.mining.reason == api.REASON_WALLET_LOCKED:
            self.switch.setChecked(False)
            self.ask_unlock()
            return
        self.switch.setEnabled(False)  # until the daemon confirms the new state
        (self.model.start_mining if checked else self.model.pause_mining)()

    def ask_unlock(self) -> None:
        """Mining signs with the wallet's reward key: a locked wallet (after a restart) needs the password."""
        dialog = PasswordDialog("Unlock the wallet to mine", "Mining signs its work with your wallet's reward "
                                "key, so the wallet must be unlocked while it mines. The password stays in the "
                                "background service only.", self, acknowledge="")
        self.unlock_dialog = dialog
        dialog.ask(self.model.unlock_and_start)

    def show_mining(self, info: api.MiningInfo) -> None:
        running = info.state in ("mining", "waiting")
        locked = info.reason == api.REASON_WALLET_LOCKED
        self.switch.setChecked(running)
        self.switch.setText("Pause mining" if running else "Unlock and mine" if locked else
                            ("Resume mining" if info.state == "paused" else "Start mining"))
        self._update_enabled()
        self.state.setText(state_line(info))
        if info.task_id:
            model = f"{info.model} model, " if info.model else ""
            self.task.setText(f"Task {info.task_id[:12]}… ({model}round {info.round}) · step {info.step} of "
                              f"{info.total_steps or '?'} · on {info.device_name or info.device or 'the device'}")
        elif info.state in ("mining", "waiting"):
            self.task.setText("No round to train right now; one starts as soon as the network opens it.")
        self.progress.setMaximum(max(info.total_steps, 1))
        self.progress.setValue(min(info.step, max(info.total_steps, 1)))
        self.throughput.setText(f"{info.throughput:,.0f} /s" if info.state == "mining" else "—")
        live = info.state == "mining"  # the last reading is stale once training stops
        self.load.setText("—" if not live else f"{info.device_load:.0f} %" if info.device_load is not None else "unknown")
        self.temperature.setText("—" if not live else f"{info.temperature_c:.0f} °C" if info.temperature_c is not None
                                 else "unknown")
        self.rewards_today.setText(api.format_pot(self.model.rewards_today()))
        self.loss.set_points(info.loss_curve)

    def show_task_history(self, task_id: str, points: list[api.RoundPoint]) -> None:
        """The validation-loss curve of the task being mined (another task's answer is ignored)."""
        if self.model.mining.task_id and task_id != self.model.mining.task_id:
            return
        self._history_task = task_id
        self.validation.set_points([(p.round, p.validation_loss) for p in points])
