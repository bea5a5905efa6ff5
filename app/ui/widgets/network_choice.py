"""The network a volunteer mines on: the choices (wizard, Settings) and the banner shown when the chosen
test network cannot be reached, which offers the practice network instead (never a silent island).

Switching networks drops the old network's genesis file and bootstrap peers (they belong to it); the
window then asks the background service to restart (`restart`), which is how network settings take
effect, and says so.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.ui import api
from app.ui.daemon_model import DaemonModel

PRACTICE, TESTNET = "devnet", "testnet"
CHAINS = (
    (TESTNET, "Public test network (mine with other volunteers; needs the internet)"),
    (PRACTICE, "Practice network (local, on this computer only; rewards are not shared)"),
)
RESTART_NOTE = (
    "Saved. The background service is restarting to join that network; the window reconnects by itself "
    "(your round in training is saved)."
)


def network_settings_changed(before: dict[str, Any], after: dict[str, Any]) -> bool:
    """Whether saving `after` over the `network` section `before` needs the service to restart."""
    return any(
        after[key] != before.get(key)
        for key in ("chain", "node_mode", "genesis_file", "bootstrap_peers")
        if key in after
    )


def network_change(chain: str, current: dict[str, Any]) -> dict[str, Any]:
    """The `network` values to save for `chain`: a new network starts with its own files, not the old ones."""
    if chain == current.get("chain", PRACTICE):
        return {"chain": chain}
    return {"chain": chain, "genesis_file": "", "bootstrap_peers": []}


class IslandBanner(QFrame):
    """Shown while the daemon reports that its network was not reached; hidden otherwise."""

    def __init__(self, model: DaemonModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName("card")
        row = QHBoxLayout(self)
        self.text = QLabel("")
        self.text.setObjectName("errorText")
        self.text.setWordWrap(True)
        self.practice_button = QPushButton("Use the practice network")
        self.practice_button.clicked.connect(self.use_practice)
        row.addWidget(self.text, 1)
        row.addWidget(self.practice_button)
        self._saved = False
        self.setVisible(False)
        model.statusChanged.connect(self.show_status)
        self.show_status(model.status)

    def show_status(self, status: api.Status) -> None:
        if self._saved:
            return
        self.setVisible(status.island)
        if status.island:
            self.text.setText(f"Not connected to the network. {status.network_message}")

    def use_practice(self) -> None:
        self.practice_button.setEnabled(False)
        values = network_change(PRACTICE, self.model.config.get("network", {}))

        def saved(_result: Any) -> None:
            self._saved = True
            self.text.setText(RESTART_NOTE)
            self.model.restart_daemon()

        def failed(error: Any) -> None:
            self.practice_button.setEnabled(True)
            self.text.setText(f"Not saved: {getattr(error, 'message', error)}")

        self.model.set_config("network", values).then(saved, failed)
