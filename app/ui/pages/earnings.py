"""Earnings: rewards over the last day, week or month as bars; totals per task; CSV export."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QSaveFile
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.models import bucket_rewards, per_task, rewards_csv
from app.ui.pages.common import card, hint, title, value_label
from app.ui.widgets.charts import BarChart


class EarningsPage(QWidget):
    def __init__(
        self, model: DaemonModel, parent: QWidget | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.clock = clock
        self.period = "week"
        layout = QVBoxLayout(self)
        layout.addWidget(title("Earnings"))

        bar = QHBoxLayout()
        self.period_buttons = QButtonGroup(self)
        for period, text in (("day", "Last day"), ("week", "Last week"), ("month", "Last month")):
            button = QPushButton(text)
            button.setCheckable(True)
            button.setChecked(period == self.period)
            button.clicked.connect(lambda _c=False, p=period: self.set_period(p))
            self.period_buttons.addButton(button)
            bar.addWidget(button)
        bar.addStretch(1)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.clicked.connect(self.export_csv)
        bar.addWidget(self.export_button)
        layout.addLayout(bar)

        self.total = value_label()
        self.chart = BarChart(
            "No rewards in this period yet. Rewards appear here when a round you trained is verified.", "g"
        )
        layout.addWidget(card("POT earned", self.total, self.chart), 2)

        self.tasks = QTableWidget(0, 3)
        self.tasks.setHorizontalHeaderLabels(["Task", "Rewards", "Earned"])
        self.tasks.verticalHeader().hide()
        self.tasks.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tasks.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(card("Per task (all time)", self.tasks), 1)
        self.note = hint("")
        layout.addWidget(self.note)
        model.historyChanged.connect(self.refresh)
        self.refresh()

    def set_period(self, period: str) -> None:
        self.period = period
        self.refresh()

    def refresh(self) -> None:
        rewards = self.model.history.rewards()
        buckets = bucket_rewards(rewards, self.period, self.clock())
        self.chart.set_bars([(label, grains / api.GRAINS_PER_POT) for label, grains in buckets])
        self.total.setText(api.format_pot(sum(g for _, g in buckets)))
        rows = per_task(rewards)
        self.tasks.setRowCount(len(rows))
        for i, (task, count, grains) in enumerate(rows):
            for j, text in enumerate((task, str(count), api.format_pot(grains))):
                self.tasks.setItem(i, j, QTableWidgetItem(text))
        self.export_button.setEnabled(bool(rewards))

    def export_csv(self, path: str = "") -> bool:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Export rewards", "potminer-rewards.csv", "CSV (*.csv)")
            if not path:
                return False
        out = QSaveFile(path)  # written to a temporary file and renamed: never half a file
        if not out.open(QSaveFile.OpenModeFlag.WriteOnly):
            self.note.setText(f"Could not write {path}: {out.errorString()}. Choose another folder.")
            return False
        out.write(rewards_csv(self.model.history.rewards()).encode("utf-8"))
        if not out.commit():
            self.note.setText(f"Could not write {path}: {out.errorString()}. Choose another folder.")
            return False
        self.note.setText(f"Exported to {path}")
        return True
