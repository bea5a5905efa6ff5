"""The window shell: a sidebar of pages, the pages in a stack, and a status bar (daemon, sync, peers, mining).

Kept small on purpose (Electrum's 4,600-line main_window is the warning): each page lives in pages/, the
state in DaemonModel, the tray in tray.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.dashboard import DashboardPage, state_line
from app.ui.pages.earnings import EarningsPage
from app.ui.pages.logs import LogsPage
from app.ui.pages.network import NetworkPage, head_age_text
from app.ui.pages.wallet import WalletPage
from app.ui.settings import SettingsPage
from app.ui.tray import Tray, state_icon
from app.ui.widgets.network_choice import IslandBanner

PAGES = ("Dashboard", "Wallet", "Earnings", "Network", "Settings", "Logs")


class MainWindow(QMainWindow):
    def __init__(self, model: DaemonModel, tray: Tray | None = None, on_quit: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.model = model
        self.tray = tray
        self.on_quit = on_quit
        self.quitting = False
        self.setWindowTitle("PoT Miner")
        self.setWindowIcon(state_icon("mining"))
        self.resize(1100, 740)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFixedWidth(170)
        self.sidebar.setIconSize(QSize(0, 0))
        self.stack = QStackedWidget()
        self.dashboard = DashboardPage(model)
        self.wallet = WalletPage(model)
        self.earnings = EarningsPage(model)
        self.network = NetworkPage(model)
        self.settings = SettingsPage(model)
        self.logs = LogsPage(model)
        for name, page in zip(
            PAGES, (self.dashboard, self.wallet, self.earnings, self.network, self.settings, self.logs)
        ):
            self.sidebar.addItem(name)
            self.stack.addWidget(page)
        self.sidebar.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.sidebar.setCurrentRow(0)
        row.addWidget(self.sidebar)
        self.island = IslandBanner(model)  # the test network not reached: said plainly, practice offered
        column = QVBoxLayout()
        column.addWidget(self.island)
        column.addWidget(self.stack, 1)
        row.addLayout(column, 1)
        self.setCentralWidget(central)

        self.connection = QLabel("Starting…")
        self.chain = QLabel("")
        self.mining = QLabel("")
        bar = self.statusBar()
        bar.addWidget(self.connection, 1)
        bar.addPermanentWidget(self.mining)
        bar.addPermanentWidget(self.chain)
        model.connectionChanged.connect(self.show_connection)
        model.statusChanged.connect(self.show_status)
        model.miningChanged.connect(lambda info: self.mining.setText(state_line(info)[:80]))
        model.actionFailed.connect(lambda what, msg: bar.showMessage(f"{what}: {msg}", 10_000))
        model.warning.connect(lambda msg: bar.showMessage(f"Warning: {msg}", 15_000))
        self.show_connection(model.client.state, model.client.detail)

    def show_page(self, name: str) -> None:
        self.sidebar.setCurrentRow(PAGES.index(name))

    def show_connection(self, state: str, detail: str) -> None:
        text = {
            "ready": "Connected to the background service",
            "connecting": "Connecting to the background service…",
        }.get(
            state,
            f"Background service not reachable ({detail}). It is started for you; if this stays, "
            "run 'potminer daemon' in a terminal to see why.",
        )
        self.connection.setText(text)

    def show_status(self, status: api.Status) -> None:
        if not status.node_mode:
            self.chain.setText("no node (the service runs --offline)")
            return
        peers = f"{status.peers} peer" + ("" if status.peers == 1 else "s")
        self.chain.setText(f"height {status.height:,} · {peers} · {head_age_text(status, time.time())}")

    def closeEvent(self, event: QCloseEvent) -> None:
        keep = bool(self.model.config.get("ui", {}).get("close_to_tray", True))
        if not self.quitting and keep and self.tray is not None and self.tray.available():
            event.ignore()
            self.hide()
            self.tray.notify(
                "PoT Miner is still running",
                "Mining goes on in the background. Use the tray icon to open the window or quit.",
            )
            return
        event.accept()
        if self.on_quit is not None:
            self.on_quit()

    def bring_to_front(self) -> None:
        self.show()
        self.setWindowState((self.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
        self.raise_()
        self.activateWindow()
