"""Settings: mining (device, caps, idle, battery, schedule, programs, disk cap), the app (start at login,
tray, theme), network, and the data folder with its size.

The form shows the daemon's config (`config.get`) and saves each section with `config.set`; the daemon
validates and writes the file, so a wrong value comes back as a message under the form. Sections are
saved one after another, mining first, and a refusal stops the save there: nothing after it is written
and the form keeps every edit so the user can fix the one field. Simple things first; the expert knobs
are in the same form, each with a tooltip saying what it does.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
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
from app.ui.widgets.network_choice import CHAINS, RESTART_NOTE, network_change, network_settings_changed

MODES = (("when-idle", "When the computer is idle"), ("always", "Always"), ("never", "Never (until I press Start)"))
NODE_MODES = (
    ("auto", "Automatic (light on the test network, full on the practice network)"),
    ("full", "Full node (keeps the whole chain, helps the network)"),
    ("light", "Light client (headers only, little disk)"),
)


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

        layout.addWidget(self._mining_box())
        layout.addWidget(self._app_box())
        layout.addWidget(self._network_box())
        layout.addStretch(1)

        outer.addLayout(self._button_bar())

        self._saving = False
        self._restart = False  # the network section changed: the service restarts once it is saved
        model.configChanged.connect(self._config_arrived)
        model.devicesChanged.connect(self.show_devices)
        model.statusChanged.connect(lambda s: self.data_dir.setText(s.data_dir or "—"))
        model.miningChanged.connect(self.show_limits)
        self.show_devices(model.devices)
        self.show_config(model.config)
        self.show_limits(model.mining)

    def _mining_box(self) -> QGroupBox:
        """How and when to mine: the mode, the device and its caps, pauses, disk."""
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
        self.temp_note = hint("")
        self.apps = QLineEdit()
        self.apps.setPlaceholderText("none; e.g. steam, obs, blender")
        self.apps.setToolTip(
            "Mining pauses while any of these programs runs (names as the task manager shows "
            "them, separated by commas) and resumes when they exit."
        )
        self.disk_cap = QDoubleSpinBox(suffix=" GB", minimum=0, maximum=100000, decimals=1, singleStep=1)
        self.disk_cap.setSpecialValueText("no cap")
        self.disk_cap.setToolTip(
            "The most disk the data folder may use. Data no round can still challenge is "
            "removed as it ages; at the cap mining pauses and says so."
        )
        f.addRow("Mine", self.mode)
        f.addRow("Device", self.device)
        f.addRow("GPU memory cap", self.gpu_memory)
        f.addRow("Device load cap", self.utilization)
        f.addRow("CPU threads", self.cpu_threads)
        f.addRow("Temperature limit", self.max_temp)
        f.addRow("", self.temp_note)
        f.addRow("Idle after", self.idle_minutes)
        f.addRow("", self.battery)
        f.addRow("Schedule", self.schedule)
        f.addRow("Pause while running", self.apps)
        f.addRow("Disk cap", self.disk_cap)
        return mining

    def _app_box(self) -> QGroupBox:
        """The app itself: start at login, the tray, the theme."""
        app_box = QGroupBox("This app")
        f = QFormLayout(app_box)
        self.start_at_login = QCheckBox("Start PoT Miner when I log in")
        self.close_to_tray = QCheckBox("Closing the window keeps mining in the tray")
        self.theme = _combo((("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")))
        f.addRow("", self.start_at_login)
        f.addRow("", self.close_to_tray)
        f.addRow("Theme", self.theme)
        return app_box

    def _network_box(self) -> QGroupBox:
        """Which chain, how the node runs, its bootstrap peers and data folder."""
        net = QGroupBox("Network")
        f = QFormLayout(net)
        self.chain = _combo(CHAINS)
        self.chain_note = hint("")
        self.chain.currentIndexChanged.connect(self._chain_note)
        f.addRow("Network", self.chain)
        f.addRow("", self.chain_note)
        self.node_mode = _combo(NODE_MODES)
        self.bootstrap = QPlainTextEdit()
        self.bootstrap.setPlaceholderText(
            "one multiaddr per line, e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3Koo…\n"
            "empty: the network's built-in bootstrap list"
        )
        self.bootstrap.setMaximumHeight(90)
        self.data_dir = QLabel("—")
        self.data_dir.setWordWrap(True)
        self.data_size = QLabel("—")
        f.addRow("Node", self.node_mode)
        f.addRow("Bootstrap peers", self.bootstrap)
        f.addRow("Data folder", self.data_dir)
        f.addRow("Its size", self.data_size)
        f.addRow("", hint("To move the data folder, stop PoT Miner and start it with --datadir FOLDER."))
        return net

    def _button_bar(self) -> QHBoxLayout:
        """The save result and the Revert and Save buttons."""
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
        return bar

    def _config_arrived(self, config: dict[str, Any]) -> None:
        if not self._saving:  # a save in progress shows the result at its end (or keeps the edits)
            self.show_config(config)

    def show_limits(self, info: api.MiningInfo) -> None:
        """The data folder's size against its cap, and whether the temperature limit can hold on the CPU."""
        if info.disk_used_bytes is not None:
            cap = f" of a {info.disk_cap_bytes / 1e9:.1f} GB cap" if info.disk_cap_bytes else " (no cap)"
            self.data_size.setText(f"{info.disk_used_bytes / 1e9:.2f} GB{cap}")
        if info.cpu_temperature_c is not None:
            self.temp_note.setText(
                f"Applies to the graphics card and to the processor (now {info.cpu_temperature_c:.0f} °C)."
            )
        else:
            self.temp_note.setText(
                "This system does not report the processor's temperature, so the limit cannot "
                "be enforced on the CPU; it applies to NVIDIA graphics cards."
            )

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
        self.apps.setText(", ".join(m.get("pause_for_apps", [])))
        self.disk_cap.setValue(float(m.get("disk_cap_gb", 5.0)))
        self.start_at_login.setChecked(bool(u.get("start_at_login", False)))
        self.close_to_tray.setChecked(bool(u.get("close_to_tray", True)))
        _select(self.theme, u.get("theme", "system"))
        _select(self.chain, n.get("chain", "devnet"))
        self._chain_note()
        _select(self.node_mode, n.get("node_mode", "auto"))
        self.bootstrap.setPlainText("\n".join(n.get("bootstrap_peers", [])))

    def values(self) -> dict[str, dict[str, Any]]:
        peers = [line.strip() for line in self.bootstrap.toPlainText().splitlines() if line.strip()]
        return {
            "mining": {
                "mode": self.mode.currentData(),
                "device": self.device.currentData() or "auto",
                "gpu_memory_fraction": self.gpu_memory.value() / 100,
                "utilization_cap": self.utilization.value(),
                "cpu_threads": self.cpu_threads.value(),
                "max_temperature_c": self.max_temp.value(),
                "idle_minutes": self.idle_minutes.value(),
                "pause_on_battery": self.battery.isChecked(),
                "schedule": self.schedule.text().strip(),
                "pause_for_apps": [a.strip() for a in self.apps.text().split(",") if a.strip()],
                "disk_cap_gb": round(self.disk_cap.value(), 1),
            },
            "ui": {
                "start_at_login": self.start_at_login.isChecked(),
                "close_to_tray": self.close_to_tray.isChecked(),
                "theme": self.theme.currentData(),
            },
            "network": {"node_mode": self.node_mode.currentData(), "bootstrap_peers": peers}
            | network_change(self.chain.currentData(), self.model.config.get("network", {})),
        }

    def _chain_note(self) -> None:
        """A network change starts from that network's own files, at the service's next start."""
        saved = self.model.config.get("network", {}).get("chain", "devnet")
        self.chain_note.setText(
            ""
            if self.chain.currentData() == saved
            else "Changing the network clears the bootstrap peers above (they belong to the old "
            "one) and takes effect when PoT Miner next starts."
        )

    def save(self) -> None:
        """Save mining, then the app, then the network section; the first refusal stops there and keeps
        the form as typed (the sections already saved were valid, the rest is not written)."""
        pending = list(self.values().items())
        self._restart = network_settings_changed(self.model.config.get("network", {}), dict(pending)["network"])
        self.save_button.setEnabled(False)
        self.message.setText("Saving…")
        self._saving = True

        def next_section(_result: Any = None) -> None:
            if not pending:
                self._done(None)
                return
            section, values = pending.pop(0)
            self.model.set_config(section, values).then(next_section, lambda e: self._done(e, section))

        next_section()

    def _done(self, error: RpcError | None, section: str = "") -> None:
        self._saving = False
        self.save_button.setEnabled(True)
        if error is None:
            self.show_config(self.model.config)
            if self._restart:
                self.message.setText(RESTART_NOTE)
                self.model.restart_daemon()
            else:
                self.message.setText("Saved. Mining settings apply at once.")
            return
        names = {"mining": "Mining", "ui": "This app", "network": "Network"}
        self.message.setText(
            f"Not saved ({names.get(section, section)}): {error.message}. Your edits are kept: "
            "correct the field and save again."
        )
