"""Network: chain height, sync progress, node mode, peers, the committee and the open tasks."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QGridLayout,
    QHeaderView,
    QListWidget,
    QProgressBar,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import card, title, value_label


def _table(model: object) -> QTableView:
    view = QTableView()
    view.setModel(model)  # type: ignore[arg-type]
    view.verticalHeader().hide()
    view.setAlternatingRowColors(True)
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    view.horizontalHeader().setStretchLastSection(True)
    return view


class NetworkPage(QWidget):
    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.addWidget(title("Network"))
        grid = QGridLayout()
        self.height_label = value_label()
        self.peer_count = value_label()
        self.mode = value_label()
        self.sync = QProgressBar()
        self.sync.setRange(0, 1000)
        for col, (heading, widget) in enumerate((("Chain height", self.height_label), ("Peers", self.peer_count),
                                                 ("Node", self.mode), ("Sync", self.sync))):
            grid.addWidget(card(heading, widget), 0, col)
        layout.addLayout(grid)
        self.peers = _table(model.peers)
        layout.addWidget(card("Connected peers", self.peers), 2)
        lower = QGridLayout()
        self.committee = QListWidget()
        lower.addWidget(card("Committee (validators of this epoch)", self.committee), 0, 0)
        self.tasks = _table(model.tasks)
        lower.addWidget(card("Open training tasks", self.tasks), 0, 1)
        layout.addLayout(lower, 1)
        model.statusChanged.connect(self.show_status)

    def show_status(self, status: api.Status) -> None:
        self.height_label.setText(f"{status.height:,}")
        self.peer_count.setText(str(status.peers))
        self.mode.setText(f"{status.node_mode or '?'} · {status.chain or '?'}")
        self.sync.setValue(int(max(0.0, min(1.0, status.sync_progress)) * 1000))
        self.sync.setFormat("synced" if status.synced else f"syncing {status.sync_progress * 100:.1f} %")
        if [self.committee.item(i).text() for i in range(self.committee.count())] != status.committee:
            self.committee.clear()
            self.committee.addItems(status.committee)
