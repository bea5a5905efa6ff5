"""Settings: mining (device, caps, idle, battery, schedule), the app (start at login, tray, theme), network.

The form shows the daemon's config (`config.get`) and saves each section with `config.set`; the daemon
validates and writes the file, so a wrong value comes back as a message under the form. Simple things
first; the expert knobs are in the same form, each with a tooltip saying what it does.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.rpc.protocol import RpcError
from app.ui import api
from app.ui.daemon_model import DaemonModel
from app.ui.pages.common import hint, title

MODES = (("when-idle", "When the computer is idle"), ("always", "Always"), ("never", "Never (until I press Start)"))
NODE_MODES = (("full", "Full node (keeps the whole chain, helps the network)"),
              ("light", "Light client (headers only, little disk)"))


def _combo(items: tuple[tuple[str, str], ...]) -> QComboBox:
    box = QComboBox()
    for value, text in items:
        box.addItem(text, value)
    return box


def _select(box: QComboBox, value: Any) -> None:
    index = box.findData(value)
    if index < 0 and value:
        box.addItem(str(value), value)
        index = box.count() - 1
    box.setCurrentIndex(max(index, 0))


class SettingsPage(QWidget):
    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        outer = QVBoxLayout(self)
        outer.addWidget(title("Settings"))
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)

        mining = QGroupBox("Mining")
        f = QFormLayout(mining)
        self.mode = _combo(MODES)
        self.device = QComboBox()
        self.device.setToolTip("Where training runs. A graphics card (CUDA or Apple MPS) earns far more than the CPU.")
        self.gpu_memory = QSpinBox(suffix=" %", minimum=5, maximum=100)
        self.gpu_memory.setToolTip("The largest share of the graphics card's memory training may use.")
        self.utilization = QSpinBox(suffix=" %", minimum=1, maximum=100)
        self.utilization.setToolTip("Training pauses briefly between steps to keep the device's load near this.")
        self.cpu_threads = QSpinBox(minimum=0, maximum=1024, specialValueText="automatic")
        self.max_temp = QSpinBox(suffix=" °C", minimum=40, maximum=100)
        self.max_temp.setToolTip("Training pauses while the device is hotter than this.")
        self.idle_minutes = QSpinBox(suffix=" min", minimum=1, maximum=1440)
        self.battery = QCheckBox("Pause while running on battery")
        self.schedule = QLineEdit()
        self.schedule.setPlaceholderText("any time; e.g. mon-fri 18:00-08:00, sat-sun")
        f.addRow("Mine", self.mode)
        f.addRow("Device", self.device)
        f.addRow("GPU memory cap", self.gpu_memory)
        f.addRow("Device load cap", self.utilization)
        f.addRow("CPU threads", self.cpu_threads)
        f.addRow("Temperature limit", self.max_temp)
        f.addRow("Idle after", self.idle_minutes)
        f.addRow("", self.battery)
        f.addRow("Schedule", self.schedule)
        layout.addWidget(mining)

        app_box = QGroupBox("This app")
        f = QFormLayout(app_box)
        self.start_at_login = QCheckBox("Start PoT Miner when I log in")
        self.close_to_tray = QCheckBox("Closing the window keeps mining in the tray")
        self.theme = _combo((("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")))
        f.addRow("", self.start_at_login)
        f.addRow("", self.close_to_tray)
        f.addRow("Theme", self.theme)
        layout.addWidget(app_box)

        net = QGroupBox("Network")
        f = QFormLayout(net)
        self.node_mode = _combo(NODE_MODES)
        self.bootstrap = QPlainTextEdit()
        self.bootstrap.setPlaceholderText("one multiaddr per line, e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…\n"
                                          "empty: the network's built-in bootstrap list")
        self.bootstrap.setMaximumHeight(90)
        self.data_dir = QLabel("—")
        self.data_dir.setWordWrap(True)
        f.addRow("Node", self.node_mode)
        f.addRow("Bootstrap peers", self.bootstrap)
        f.addRow("Data folder", self.data_dir)
        f.addRow("", hint("To move the data folder, stop PoT Miner and start it with --datadir FOLDER."))
        layout.addWidget(net)
        layout.addStretch(1)

        bar = QHBoxLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton("Revert")
        self.revert_button.clicked.connect(lambda: self.show_config(self.model.config))
        bar.addWidget(self.message, 1)
        bar.addWidget(self.revert_button)
        bar.addWidget(self.save_button)
        outer.addLayout(bar)

        model.configChanged.connect(self.show_config)
        model.devicesChanged.connect(self.show_devices)
        model.statusChanged.connect(lambda s: self.data_dir.setText(s.data_dir or "—"))
        self.show_devices(model.devices)
        self.show_config(model.config)

    def show_devices(self, devices: list[api.Device]) -> None:
        current = self.device.currentData()
        self.device.clear()
        self.device.addItem("Automatic (the fastest found)", "auto")
        for d in devices:
            memory = f", {d.memory_bytes / 2**30:.0f} GiB" if d.memory_bytes else ""
            self.device.addItem(f"{d.name or d.id}{memory}", d.id)
        _select(self.device, current or self.model.config.get("mining", {}).get("device", "auto"))

    def show_config(self, config: dict[str, Any]) -> None:
        m, n, u = config.get("mining", {}), config.get("network", {}), config.get("ui", {})
        _select(self.mode, m.get("mode", "when-idle"))
        _select(self.device, m.get("device", "auto"))
        self.gpu_memory.setValue(round(float(m.get("gpu_memory_fraction", 0.8)) * 100))
        self.utilization.setValue(int(m.get("utilization_cap", 100)))
        self.cpu_threads.setValue(int(m.get("cpu_threads", 0)))
        self.max_temp.setValue(int(m.get("max_temperature_c", 83)))
        self.idle_minutes.setValue(int(m.get("idle_minutes", 5)))
        self.battery.setChecked(bool(m.get("pause_on_battery", True)))
        self.schedule.setText(str(m.get("schedule", "")))
        self.start_at_login.setChecked(bool(u.get("start_at_login", False)))
        self.close_to_tray.setChecked(bool(u.get("close_to_tray", True)))
        _select(self.theme, u.get("theme", "system"))
        _select(self.node_mode, n.get("node_mode", "full"))
        self.bootstrap.setPlainText("\n".join(n.get("bootstrap_peers", [])))

    def values(self) -> dict[str, dict[str, Any]]:
        peers = [line.strip() for line in self.bootstrap.toPlainText().splitlines() if line.strip()]
        return {
            "mining": {
                "mode": self.mode.currentData(), "device": self.device.currentData() or "auto",
                "gpu_memory_fraction": self.gpu_memory.value() / 100, "utilization_cap": self.utilization.value(),
                "cpu_threads": self.cpu_threads.value(), "max_temperature_c": self.max_temp.value(),
                "idle_minutes": self.idle_minutes.value(), "pause_on_battery": self.battery.isChecked(),
                "schedule": self.schedule.text().strip(),
            },
            "ui": {"start_at_login": self.start_at_login.isChecked(), "close_to_tray": self.close_to_tray.isChecked(),
                   "theme": self.theme.currentData()},
            "network": {"node_mode": self.node_mode.currentData(), "bootstrap_peers": peers},
        }

    def save(self) -> None:
        sections = self.values()
        self.save_button.setEnabled(False)
        self.message.setText("Saving…")
        remaining = {"n": len(sections), "errors": []}

        def finished(error: RpcError | None = None) -> None:
            if error is not None:
                remaining["errors"].append(error.message)  # type: ignore[union-attr]
            remaining["n"] -= 1  # type: ignore[operator]
            if remaining["n"] == 0:
                self.save_button.setEnabled(True)
                errors = remaining["errors"]
                self.message.setText("Saved. Mining settings apply at once; the node mode after a restart."
                                     if not errors else "Not saved: " + "; ".join(errors))  # type: ignore[arg-type]

        for section, values in sections.items():
            self.model.set_config(section, values).then(lambda _r: finished(), finished)
