"""Logs: the daemon's log lines as they come, filtered by minimum level and text."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QHeaderView, QLineEdit, QTableView, QVBoxLayout, QWidget

from app.ui.daemon_model import DaemonModel
from app.ui.models import LEVELS, LogFilter
from app.ui.pages.common import hint, title


class LogsPage(QWidget):
    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addWidget(title("Logs"))
        layout.addWidget(hint("What the background service is doing. Secrets are removed before lines get here."))
        bar = QHBoxLayout()
        self.level = QComboBox()
        self.level.addItems(LEVELS[:4])
        self.level.setCurrentText("INFO")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter: text in the source or the message")
        self.search.setClearButtonEnabled(True)
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        layout.addLayout(bar)
        self.proxy = LogFilter(self)
        self.proxy.setSourceModel(model.logs)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.verticalHeader().hide()
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)  # ResizeToContents rescans every row
        header.setStretchLastSection(True)
        for column, width in enumerate((80, 80, 190)):
            self.view.setColumnWidth(column, width)
        layout.addWidget(self.view, 1)
        self.level.currentTextChanged.connect(self._apply)
        self.search.textChanged.connect(self._apply)
        model.logs.rowsInserted.connect(self._follow)
        self._apply()

    def _apply(self) -> None:
        self.proxy.set_filter(self.level.currentText(), self.search.text())

    def _follow(self) -> None:
        bar = self.view.verticalScrollBar()
        if bar.value() >= bar.maximum() - 2:  # keep following the newest line unless the user scrolled up
            self.view.scrollToBottom()
