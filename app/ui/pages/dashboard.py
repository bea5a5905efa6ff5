"""Dashboard: the one big start/pause switch, "pause for 1 hour", the state and why in plain words, the
task, the round's progress with the time left, the loss curves, and the numbers with their units."""

from __future__ import annotations

import time

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


SNOOZE_MINUTES = 60
REASON_NO_TASK = "no-task"


def state_line(info: api.MiningInfo) -> str:
    """The daemon's own sentence when it sent one (it says why), else the state's name."""
    return info.text or STATE_TEXT.get(info.state, info.state.capitalize())


def time_left(seconds: float | None) -> str:
    """ "about 3 min left" for the round's progress bar; "" when unknown."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return ""
    if seconds < 60:
        return "less than a minute left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


class StepRate:
    """Steps per second of the round being trained, over the last `window_s` of progress (for the ETA)."""

    def __init__(self, window_s: float = 30.0) -> None:
        self.window_s = window_s
        self._round: tuple[str, int] | None = None
        self._samples: list[tuple[float, int]] = []

    def add(self, task_id: str, round_number: int, step: int, now: float) -> None:
        if self._round != (task_id, round_number) or (self._samples and step < self._samples[-1][1]):
            self._round, self._samples = (task_id, round_number), []
        if not self._samples or step > self._samples[-1][1]:
            self._samples.append((now, step))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window_s:
            self._samples.pop(0)

    def seconds_left(self, step: int, total: int) -> float | None:
        if len(self._samples) < 2 or total <= 0:
            return None
        (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 2.0 or s1 <= s0:
            return None
        return (total - step) / ((s1 - s0) / (t1 - t0))


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
        self.snooze = QPushButton("Pause for 1 hour")
        self.snooze.setToolTip("Mining pauses now (the round is saved) and resumes by itself in an hour.")
        self.snooze.clicked.connect(self.snooze_mining)
        top.addWidget(self.snooze)
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
        self.throughput.setToolTip("Training samples processed per second")
        self._rate = StepRate()
        self.load = value_label()
        self.temperature = value_label()
        self.rewards_today = value_label()
        for col, (heading, widget) in enumerate(
            (
                ("Throughput", self.throughput),
                ("Device load", self.load),
                ("Temperature", self.temperature),
                ("Rewards today", self.rewards_today),
            )
        ):
            grid.addWidget(card(heading, widget), 0, col)
        layout.addLayout(grid)

        charts = QHBoxLayout()
        self.validation = LineChart(
            "The task's validation loss appears once its rounds close on the chain.", ".3f", x_name="round"
        )
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
        if checked and self.model.mining.reason == api.REASON_WALLET_LOCKED and self.model.mining.state != "off":
            self.switch.setChecked(False)
            self.ask_unlock()
            return
        self.switch.setEnabled(False)  # until the daemon confirms the new state
        (self.model.start_mining if checked else self.model.pause_mining)()

    def snooze_mining(self) -> None:
        """ "Pause for 1 hour": the daemon saves the round and resumes by itself afterwards."""
        self.model.snooze_mining(SNOOZE_MINUTES)

    def ask_unlock(self) -> None:
        """Mining signs with the wallet's reward key: a wallet never unlocked on this computer needs the
        password once; the reward key is then kept so mining resumes by itself after a restart."""
        dialog = PasswordDialog(
            "Unlock once to mine",
            "Mining signs its work with your wallet's reward key. "
            "Unlock once: the reward key is then kept on this computer (in the system "
            "keyring, or a file only you can read), so mining resumes by itself after a "
            "restart. Your spending key stays encrypted, and every send asks for the "
            "password.",
            self,
            acknowledge="",
        )
        self.unlock_dialog = dialog
        dialog.ask(self.model.unlock_and_start)

    def show_mining(self, info: api.MiningInfo) -> None:
        running = info.state in ("mining", "waiting")
        locked = info.reason == api.REASON_WALLET_LOCKED
        self.switch.setChecked(running)
        self.switch.setText(
            "Pause mining"
            if running
            else "Unlock and mine"
            if locked
            else ("Resume mining" if info.state == "paused" else "Start mining")
        )
        self._update_enabled()
        self.state.setText(state_line(info))
        self.snooze.setEnabled(info.state in ("mining", "waiting") and self.model.client.is_ready())
        if info.task_id:
            model = f"{info.model} model, " if info.model else ""
            self.task.setText(
                f"Task {info.task_id[:12]}… ({model}round {info.round}) · step {info.step} of "
                f"{info.total_steps or '?'} · on {info.device_name or info.device or 'the device'}"
            )
        elif info.reason == REASON_NO_TASK:
            self.task.setText("No round to train right now; one starts as soon as the network opens it.")
        elif info.state in ("mining", "waiting"):
            self.task.setText("")  # the state line above says why (e.g. the computer is in use)
        self.progress.setMaximum(max(info.total_steps, 1))
        self.progress.setValue(min(info.step, max(info.total_steps, 1)))
        left = ""
        if info.state == "mining" and info.task_id:
            self._rate.add(info.task_id, info.round, info.step, time.monotonic())
            left = time_left(self._rate.seconds_left(info.step, info.total_steps))
        self.progress.setFormat("round progress: %p%" + (f" · {left}" if left else ""))
        self.throughput.setText(f"{info.throughput:,.0f} samples/s" if info.state == "mining" else "—")
        live = info.state == "mining"  # the last reading is stale once training stops
        self.load.setText(
            "—" if not live else f"{info.device_load:.0f} %" if info.device_load is not None else "unknown"
        )
        self.temperature.setText(
            "—" if not live else f"{info.temperature_c:.0f} °C" if info.temperature_c is not None else "unknown"
        )
        self.rewards_today.setText(api.format_pot(self.model.rewards_today()))
        self.loss.set_points(info.loss_curve)

    def show_task_history(self, task_id: str, points: list[api.RoundPoint]) -> None:
        """The validation-loss curve of the task being mined (another task's answer is ignored)."""
        if self.model.mining.task_id and task_id != self.model.mining.task_id:
            return
        self._history_task = task_id
        self.validation.set_points([(p.round, p.validation_loss) for p in points])
