"""What the window knows about the daemon, kept current from events, with a few calls where none exist.

One QObject between the RPC client and the pages: it turns events and results into typed records
(app/ui/api.py) and Qt signals, fills the table models, and offers the actions pages need. Pages never
touch the client or raw dicts. Training progress (step, loss) comes with `mining_progress` events (about
two a second); `mine.state` is polled every few seconds while mining only when no progress event came
lately (an older daemon, missed events), and status and peers every few seconds as a safety net.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.rpc.protocol import RpcError
from app.ui import api
from app.ui.models import HistoryModel, LogModel, PeersModel, TasksModel
from app.ui.rpc_client import PendingCall, RpcClient

MINING_POLL_MS = 5000  # the fallback poll while mining; progress events make it a no-op
PROGRESS_FRESH_S = 3.0  # a progress event this recent makes the fallback poll unnecessary
STATUS_POLL_MS = 5000


class DaemonModel(QObject):
    connectionChanged = Signal(str, str)  # client state, detail
    statusChanged = Signal(object)  # api.Status
    miningChanged = Signal(object)  # api.MiningInfo
    balanceChanged = Signal(object)  # api.Balance
    addressesChanged = Signal(dict)  # role -> address
    keysChanged = Signal(object)  # api.KeyRoles: which key holds what
    historyChanged = Signal()
    rewardReceived = Signal(
        object, str, object
    )  # grains (an int beyond 32 bits), task id, vesting-until height or None
    warning = Signal(str)
    configChanged = Signal(dict)
    devicesChanged = Signal(list)  # [api.Device]
    actionFailed = Signal(str, str)  # what, message
    taskHistoryChanged = Signal(str, list)  # task id, [api.RoundPoint] (its validation-loss curve)

    def __init__(self, client: RpcClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.status = api.Status()
        self.mining = api.MiningInfo()
        self.balance = api.Balance()
        self.addresses: dict[str, str] = {}
        self.key_roles = api.KeyRoles()
        self.config: dict[str, Any] = {}
        self.devices: list[api.Device] = []
        self.task_history: tuple[str, list[api.RoundPoint]] = ("", [])  # the mined task's closed rounds
        self.history = HistoryModel(self)
        self.peers = PeersModel(self)
        self.tasks = TasksModel(self)
        self.logs = LogModel(parent=self)
        client.stateChanged.connect(self.connectionChanged)
        client.ready.connect(lambda _info: self.refresh_all())
        client.eventsLost.connect(self.refresh_all)
        client.event.connect(self._on_event)
        self._mining_poll = QTimer(self)
        self._mining_poll.setInterval(MINING_POLL_MS)
        self._mining_poll.timeout.connect(self._poll_mining)
        self._progress_at: float | None = None  # monotonic time of the last mining_progress event
        self._status_poll = QTimer(self)
        self._status_poll.setInterval(STATUS_POLL_MS)
        self._status_poll.timeout.connect(self._slow_refresh)
        self._status_poll.start()

    # -- refresh ------------------------------------------------------------------------------
    def call(self, method: str, params: dict[str, Any] | None = None) -> PendingCall:
        return self.client.call(method, params)

    def refresh_all(self) -> None:
        self.refresh_status()
        self.refresh_mining()
        self.refresh_config()
        self.call(api.DEVICES).then(self._on_devices)
        self.refresh_network()
        self.call(api.LOGS, {"limit": 500}).then(self._on_logs)

    def _slow_refresh(self) -> None:
        if self.client.is_ready():
            self.refresh_status()
            self.refresh_network()

    def refresh_network(self) -> None:
        """Peers and tasks: these fail with node_offline on a daemon run --offline (then stay empty)."""
        self.call(api.TASKS).then(lambda r: self.tasks.set_records(api.parse_tasks(r)))
        self.call(api.PEERS).then(self._on_peers)

    def refresh_status(self) -> None:
        self.call(api.STATUS).then(self._on_status)

    def refresh_wallet(self) -> None:
        if not self.status.wallet_info.exists:
            return
        self.call(api.WALLET_BALANCE).then(lambda r: self._set_balance(api.parse_balance(r)))
        self.call(api.WALLET_ADDRESS).then(self._on_addresses)
        self.call(api.WALLET_HISTORY, {"limit": 1000}).then(self._on_history)

    def refresh_mining(self) -> None:
        self.call(api.MINING_STATE).then(self._on_mining)

    def _poll_mining(self) -> None:
        fresh = self._progress_at is not None and time.monotonic() - self._progress_at < PROGRESS_FRESH_S
        if not fresh:
            self.refresh_mining()

    def refresh_config(self) -> None:
        self.call(api.CONFIG_GET).then(self._on_config)

    # -- actions ------------------------------------------------------------------------------
    def start_mining(self) -> None:
        """The switch: resume a pause, or switch mining on (a "never" mode becomes "always": the user asked)."""
        params = {"mode": "always"} if self.mining_mode() == "never" else None
        method = api.MINING_RESUME if self.mining.state == "paused" and not params else api.MINING_START
        self.call(method, params).then(self._on_mining, lambda e: self._failed("Could not start mining", e))
        if params:
            self.refresh_config()

    def mining_mode(self) -> str:
        return str(self.config.get("mining", {}).get("mode", ""))

    def pause_mining(self) -> None:
        self.call(api.MINING_PAUSE).then(self._on_mining, lambda e: self._failed("Could not pause mining", e))

    def snooze_mining(self, minutes: int = 60) -> PendingCall:
        """ "Pause for 1 hour" (the dashboard's and the tray's): mining resumes by itself afterwards."""
        return self.call(api.MINING_SNOOZE, {"minutes": minutes}).then(
            self._on_mining, lambda e: self._failed("Could not pause mining", e)
        )

    def unlock_and_start(self, password: str) -> PendingCall:
        """Unlock the wallet (the daemon then mines with its reward key) and switch mining on."""

        def unlocked(_result: Any) -> None:
            self.refresh_status()
            self.call(api.MINING_START).then(self._on_mining, lambda e: self._failed("Could not start mining", e))

        return self.call(api.WALLET_UNLOCK, {"password": password}).then(unlocked)

    def set_config(self, section: str, values: dict[str, Any]) -> PendingCall:
        return self.call(api.CONFIG_SET, {"section": section, "values": values}).then(self._on_config)

    def restart_daemon(self) -> PendingCall:
        """Have the background service restart (new network settings take effect); the client reconnects."""
        return self.call(api.RESTART).then(None, lambda e: self._failed("Could not restart the background service", e))

    def _failed(self, what: str, error: RpcError) -> None:
        self.actionFailed.emit(what, error.message)

    # -- results ------------------------------------------------------------------------------
    def _on_status(self, raw: Any) -> None:
        had_wallet = self.status.wallet_info.exists
        peers = self.status.peers
        self.status = api.parse_status(raw)
        self.status.peers = peers
        self.statusChanged.emit(self.status)
        if self.status.wallet_info.exists and (not had_wallet or not self.addresses):
            self.refresh_wallet()

    def refresh_task_history(self, task_id: str | None = None) -> None:
        """The validation loss of each closed round of `task_id` (default: the task being mined)."""
        task = task_id or self.mining.task_id
        if task:
            self.call(api.TASK_HISTORY, {"task_id": task}).then(lambda r: self._on_task_history(task, r))

    def _on_task_history(self, task_id: str, raw: Any) -> None:
        self.task_history = (task_id, api.parse_task_history(raw))
        self.taskHistoryChanged.emit(*self.task_history)

    def _on_mining(self, raw: Any) -> None:
        old_task = self.mining.task_id
        self.mining = api.parse_mining(raw)
        if self.mining.task_id and self.mining.task_id != self.task_history[0] and self.mining.task_id != old_task:
            self.refresh_task_history()
        if self.mining.state == "mining":
            if not self._mining_poll.isActive():
                self._mining_poll.start()
        else:
            self._mining_poll.stop()
        self.miningChanged.emit(self.mining)

    def _set_balance(self, balance: api.Balance) -> None:
        self.balance = balance
        self.balanceChanged.emit(balance)

    def _on_addresses(self, raw: Any) -> None:
        self.addresses = api.parse_addresses(raw)
        self.addressesChanged.emit(self.addresses)
        self.key_roles = api.parse_key_roles(raw)
        self.keysChanged.emit(self.key_roles)

    def _on_history(self, raw: Any) -> None:
        self.history.set_history(api.parse_history(raw))
        self.historyChanged.emit()

    def _on_logs(self, raw: Any) -> None:
        for line in api.parse_logs(raw):
            self.logs.append(line)

    def _on_config(self, raw: Any) -> None:
        config = api.parse_config(raw)
        if config:
            self.config = config
            self.configChanged.emit(config)

    def _on_devices(self, raw: Any) -> None:
        self.devices = api.parse_devices(raw)
        self.devicesChanged.emit(self.devices)

    def _on_peers(self, raw: Any) -> None:
        peers = api.parse_peers(raw)
        self.peers.set_records(peers)
        connected = sum(1 for p in peers if p.connected and not p.banned)
        if connected != self.status.peers:
            self.status.peers = connected
            self.statusChanged.emit(self.status)

    # -- events -------------------------------------------------------------------------------
    def _on_event(self, kind: str, data: Any) -> None:
        data = data if isinstance(data, dict) else {}
        if kind == "log":
            self.logs.append(api.parse(api.LogLine, data))
        elif kind == "new_block":
            height = data.get("height")
            if isinstance(height, int) and height > self.status.height:
                self.status.height = height
                if isinstance(data.get("timestamp"), int):
                    self.status.head_time = float(data["timestamp"])
                self.statusChanged.emit(self.status)
            if data.get("tx_count"):  # a transfer may concern this wallet (rewards have their own event)
                self.refresh_wallet()
        elif kind == "mining_state":
            self.mining.state = str(data.get("state", self.mining.state))
            self.mining.reason = str(data.get("reason", ""))
            self.mining.text = ""  # the daemon's sentence comes with the refresh below
            self.miningChanged.emit(self.mining)
            self.refresh_mining()
        elif kind == "mining_progress":
            old_task = self.mining.task_id
            if api.apply_progress(self.mining, data):
                if self.mining.task_id != old_task and self.mining.task_id != self.task_history[0]:
                    self.refresh_task_history()
                self._progress_at = time.monotonic()
                self.miningChanged.emit(self.mining)
        elif kind == "round_started":  # the previous round closed: its validation loss is on the chain
            self.refresh_mining()
            if str(data.get("task_id", "")) == self.mining.task_id or not self.mining.task_id:
                self.refresh_task_history(str(data.get("task_id", "")) or None)
            self.call(api.TASKS).then(lambda r: self.tasks.set_records(api.parse_tasks(r)))
        elif kind == "reward":
            amount, task = data.get("amount", 0), str(data.get("task_id", ""))
            unlock = data.get("unlock_height") if data.get("vesting") else None
            self.rewardReceived.emit(
                int(amount) if isinstance(amount, int) else 0, task, unlock if isinstance(unlock, int) else None
            )
            self.refresh_wallet()
            self.refresh_mining()
        elif kind == "warning":
            self.warning.emit(str(data.get("message", "")))

    def rewards_today(self) -> int:
        since = time.time() - 86400
        return sum(r.amount for r in self.history.rewards() if r.time >= since)
