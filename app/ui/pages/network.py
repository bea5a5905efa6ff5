"""Network: chain height, how fresh the head is, node mode, peers, the committee and the tasks."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHeaderView,
    QListWidget,
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


def head_age_text(status: api.Status, now: float) -> str:
    """'synced · 2 s ago', or how far behind the newest block is."""
    age = status.head_age_s(now)
    if age is None:
        return "no blocks yet"
    if age < 90:
        ago = f"{age:.0f} s ago"
    elif age < 5400:
        ago = f"{age / 60:.0f} min ago"
    else:
        ago = f"{age / 3600:.1f} h ago"
    return f"synced · {ago}" if status.synced(now) else f"catching up · {ago}"


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
        self.sync = value_label()
        self.sync.setToolTip(
            "How long ago the newest block was made. Blocks come every few seconds; an old "
            "head means this node is still catching up or has no peers."
        )
        for col, (heading, widget) in enumerate(
            (
                ("Chain height", self.height_label),
                ("Peers", self.peer_count),
                ("Node", self.mode),
                ("Newest block", self.sync),
            )
        ):
            grid.addWidget(card(heading, widget), 0, col)
        layout.addLayout(grid)
        self.peers = _table(model.peers)
        self.peers.horizontalHeader().setStretchLastSection(False)
        self.peers.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(card("Connected peers", self.peers), 2)
        lower = QGridLayout()
        self.committee = QListWidget()
        self.committee.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # addresses are long; the tooltip has it all
        self.committee.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lower.addWidget(card("Committee (validators of this epoch)", self.committee), 0, 0)
        self.tasks = _table(model.tasks)
        lower.addWidget(card("Training tasks on the chain", self.tasks), 0, 1)
        lower.setColumnStretch(1, 2)
        layout.addLayout(lower, 1)
        model.statusChanged.connect(self.show_status)

    def show_status(self, status: api.Status) -> None:
        self.height_label.setText(f"{status.height:,}")
        self.peer_count.setText(str(status.peers))
        self.mode.setText(f"{status.node_mode} · {status.chain}" if status.node_mode else "offline")
        self.sync.setText(head_age_text(status, time.time()))
        if [self.committee.item(i).text() for i in range(self.committee.count())] != status.committee:
            self.committee.clear()
            self.committee.addItems(status.committee)
            for i, address in enumerate(status.committee):
                self.committee.item(i).setToolTip(address)
