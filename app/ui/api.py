"""The narrow daemon interface the window uses (bitcoin-qt's interfaces::Node idea).

Every RPC method name and every result field the window reads is named here, and nowhere else; pages
ask for typed records, never raw dicts. When the daemon's API changes, this file changes. Parsing is
lenient the way docs/RPC.md asks: unknown fields are ignored, a missing field takes its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from app.rpc.contract import METHODS, MethodError
from app.rpc.protocol import EVENT_KINDS

# Method names, taken from the contract (app/rpc/contract.py): a name the daemon does not define fails
# here, when the window is imported, not when a volunteer clicks.


def _method(name: str) -> str:
    if name not in METHODS:
        raise ImportError(f"app.ui.api names RPC method {name!r}, which app/rpc/contract.py does not define")
    return name


STATUS = _method("status")
MINING_STATE = _method("mine.state")
MINING_START = _method("mine.start")
MINING_PAUSE = _method("mine.pause")
MINING_RESUME = _method("mine.resume")
MINING_SNOOZE = _method("mine.snooze")
DEVICES = _method("mine.devices")
WALLET_CREATE = _method("wallet.create")
WALLET_RESTORE = _method("wallet.restore")
WALLET_UNLOCK = _method("wallet.unlock")
WALLET_ADDRESS = _method("wallet.address")
WALLET_BALANCE = _method("wallet.balance")
WALLET_CHECK_ADDRESS = _method("wallet.check_address")
WALLET_FEE = _method("wallet.fee_estimate")
WALLET_SEND = _method("wallet.send")
WALLET_HISTORY = _method("wallet.history")
WALLET_EXPORT = _method("wallet.export")
WALLET_SWEEP = _method("wallet.sweep")
TASKS = _method("task.list")
TASK_HISTORY = _method("task.history")
PEERS = _method("peers")
LOGS = _method("logs")
CONFIG_GET = _method("config.get")
CONFIG_SET = _method("config.set")
RESTART = _method("restart")

ALL_EVENTS = tuple(sorted(EVENT_KINDS))  # the kinds the daemon sends (app/rpc/protocol.py)

# Method error codes the window reacts to specifically (>= 1000, docs/RPC.md "Daemon methods").
WALLET_LOCKED = MethodError.WALLET_LOCKED
NO_WALLET = MethodError.NO_WALLET
WRONG_PASSWORD = MethodError.WRONG_PASSWORD
WALLET_EXISTS = MethodError.WALLET_EXISTS
BAD_INPUT = MethodError.BAD_INPUT
TX_REFUSED = MethodError.TX_REFUSED
NODE_OFFLINE = MethodError.NODE_OFFLINE
# ... and the finer `data.detail` some of them carry.
INVALID_ADDRESS = "invalid_address"
INSUFFICIENT_FUNDS = "insufficient_funds"

# `mine.state` reason codes the window acts on.
REASON_WALLET_LOCKED = "wallet-locked"

GRAINS_PER_POT = 10**9
SYNCED_WITHIN_S = 120  # a head younger than this counts as caught up (blocks come every few seconds)

T = TypeVar("T")


def parse(cls: type[T], raw: Any) -> T:
    """A `cls` record from a result object, ignoring unknown fields and keeping defaults for missing ones.

    A field present with a null value keeps its default too (the daemon sends null for "not known")."""
    if not isinstance(raw, dict):
        return cls()
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in raw.items() if k in names and v is not None})


def parse_list(cls: type[T], raw: Any) -> list[T]:
    return [parse(cls, item) for item in raw] if isinstance(raw, list) else []


def _dict(raw: Any, key: str) -> dict[str, Any]:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, dict) else {}


def _list(raw: Any, key: str) -> list[Any]:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value if isinstance(value, list) else []


def error_detail(error: Any) -> str:
    """The finer reason (`data.detail`) of a method error, or ""."""
    data = getattr(error, "data", None)
    return str(data.get("detail", "")) if isinstance(data, dict) else ""


@dataclass
class WalletInfo:
    exists: bool = False
    locked: bool = True
    address: str = ""  # the spending address: the one to give out
    damaged: str = ""  # why the wallet file could not be opened (the daemon runs without it), or ""


@dataclass
class Status:
    version: str = ""
    chain: str = ""
    node_mode: str = ""  # "full" or "light"; "" when the daemon runs --offline
    height: int = 0
    head_time: float = 0.0  # unix seconds of the newest block, 0 when unknown
    peers: int = 0  # connected peers, from `peers` (status does not count them)
    data_dir: str = ""
    committee: list[str] = field(default_factory=list)  # addresses of this epoch's validators
    wallet_info: WalletInfo = field(default_factory=WalletInfo)
    network_state: str = ""  # practice, connecting, connected, unreachable (app/daemon/reach.py); "" offline
    network_message: str = ""  # the daemon's sentence for people
    island: bool = False  # the network was not reached: the window says so and offers the practice network

    def head_age_s(self, now: float) -> float | None:
        return max(0.0, now - self.head_time) if self.head_time else None

    def synced(self, now: float) -> bool:
        age = self.head_age_s(now)
        return age is not None and age < SYNCED_WITHIN_S


def parse_status(raw: Any) -> Status:
    daemon, node, wallet = _dict(raw, "daemon"), _dict(raw, "node"), _dict(raw, "wallet")
    addresses = _dict(wallet, "addresses")
    network = _dict(raw, "network")
    return Status(
        network_state=str(network.get("state", "")),
        network_message=str(network.get("message", "")),
        island=bool(network.get("island", False)),
        version=str(daemon.get("version", "")),
        data_dir=str(daemon.get("data_dir", "")),
        chain=str(node.get("chain_id", "")),
        node_mode=str(node.get("mode", "")),
        height=int(node.get("height") or 0),
        head_time=float(node.get("head_time") or 0),
        committee=[str(a) for a in _list(node, "committee")],
        wallet_info=WalletInfo(
            exists=bool(wallet.get("exists", False)),
            locked=bool(wallet.get("locked", True)),
            address=str(addresses.get("spending", "")),
            damaged=str(_dict(wallet, "damaged").get("reason", "")),
        ),
    )


@dataclass
class MiningInfo:
    state: str = "off"  # off, waiting, mining, paused, error
    reason: str = ""  # a stable code (e.g. wallet-locked, user-paused, no-task)
    text: str = ""  # the daemon's sentence for people
    task_id: str = ""
    model: str = ""
    round: int = 0
    step: int = 0
    total_steps: int = 0
    loss: float | None = None  # training loss at the last report
    loss_curve: list[list[float]] = field(default_factory=list)  # [[step, training loss], ...] of this round
    throughput: float = 0.0  # samples per second
    device: str = ""  # cpu, cuda, mps
    device_name: str = ""
    device_load: float | None = None  # percent
    temperature_c: float | None = None
    restarts: int = 0
    disk_used_bytes: int | None = None  # the data folder's size
    disk_cap_bytes: int | None = None  # its cap (None: no cap)
    cpu_temperature_c: float | None = None  # None: the OS exposes no CPU sensor (the limit cannot hold there)


def parse_mining(raw: Any) -> MiningInfo:
    info = parse(MiningInfo, raw)
    if isinstance(raw, dict) and isinstance(raw.get("samples_per_s"), (int, float)):
        info.throughput = float(raw["samples_per_s"])
    return info


@dataclass
class RoundPoint:
    round: int = 0
    height: int = 0
    validation_loss: float = 0.0


def parse_task_history(raw: Any) -> list[RoundPoint]:
    """`task.history`'s closed rounds, oldest first (the validation-loss curve)."""
    return [p for p in parse_list(RoundPoint, _list(raw, "rounds")) if isinstance(p.validation_loss, (int, float))]


def apply_progress(info: MiningInfo, raw: Any, max_points: int = 500) -> bool:
    """Fold a `mining_progress` event into `info` (step, loss, throughput, the round's loss curve);
    False when the event is malformed or older than what `info` holds."""
    if not isinstance(raw, dict) or not isinstance(raw.get("step"), int) or not isinstance(raw.get("round"), int):
        return False
    task, rnd, step = str(raw.get("task_id", "")), raw["round"], raw["step"]
    if (task, rnd) != (info.task_id, info.round):
        info.task_id, info.round, info.loss_curve = task, rnd, []
    elif step < info.step:
        return False
    info.step = step
    if isinstance(raw.get("total_steps"), int):
        info.total_steps = raw["total_steps"]
    loss = raw.get("loss")
    if isinstance(loss, (int, float)):
        info.loss = float(loss)
        if not info.loss_curve or step > info.loss_curve[-1][0]:
            info.loss_curve = [*info.loss_curve, [step, float(loss)]][-max_points:]
    if isinstance(raw.get("samples_per_s"), (int, float)):
        info.throughput = float(raw["samples_per_s"])
    for name in ("device_load", "temperature_c"):
        value = raw.get(name)
        if value is None or isinstance(value, (int, float)):
            setattr(info, name, None if value is None else float(value))
    return True


@dataclass
class Device:
    id: str = ""
    name: str = ""
    kind: str = ""  # cpu, cuda, mps
    memory_bytes: int = 0


def parse_devices(raw: Any) -> list[Device]:
    return parse_list(Device, _list(raw, "devices"))


@dataclass
class HistoryItem:
    height: int = 0
    time: float = 0.0  # unix seconds of the block
    kind: str = ""  # sent, received, self, reward
    amount: int = 0  # signed grains: the change to the wallet's total
    fee: int = 0
    counterparty: str = ""
    reference: str = ""  # transaction id, or the task id of a reward
    memo: str = ""


def parse_history(raw: Any) -> list[HistoryItem]:
    items = []
    for entry in _list(raw, "entries"):
        if not isinstance(entry, dict):
            continue
        item = parse(HistoryItem, {k: v for k, v in entry.items() if k != "amount"})  # "amount" is text there
        item.amount = int(entry.get("delta") or 0)
        items.append(item)
    return items


@dataclass
class Peer:
    peer_id: str = ""
    connected: bool = False
    banned: bool = False
    score: float = 0.0


def parse_peers(raw: Any) -> list[Peer]:
    return parse_list(Peer, _list(raw, "peers"))


@dataclass
class Task:
    task_id: str = ""
    status: str = ""  # open, finished, expired
    model: str = ""
    round: int = 0
    rounds: int = 0
    validation_loss: float | None = None
    escrow: int = 0  # grains still held for the rounds to come
    title: str = ""  # the requester's plain text (shown as plain text, never as rich text)
    description: str = ""
    patience_rounds: int = 0  # the patience rule: finished after this many rounds without progress (0: none)
    stale_rounds: int = 0  # rounds since the best validation loss

    @property
    def rounds_left(self) -> int:
        return max(0, self.rounds - self.round)

    @property
    def patience_text(self) -> str:
        """Where the patience rule stands, in words: how close the task is to finishing early."""
        if not self.patience_rounds:
            return "runs all its rounds" if self.status == "open" else ""
        if self.status == "finished" and self.round < self.rounds:
            return f"stopped early: no progress for {self.patience_rounds} rounds"
        if self.status != "open":
            return ""
        if self.stale_rounds == 0:
            return "improving"
        return f"{self.stale_rounds} of {self.patience_rounds} rounds without progress"


def parse_tasks(raw: Any) -> list[Task]:
    return parse_list(Task, _list(raw, "tasks"))


@dataclass
class LogLine:
    seq: int = 0
    time: float = 0.0
    level: str = "INFO"
    logger: str = ""
    message: str = ""


def parse_logs(raw: Any) -> list[LogLine]:
    return parse_list(LogLine, _list(raw, "entries"))


@dataclass
class Balance:
    spending: int = 0
    reward: int = 0
    total: int = 0  # spendable
    pending: int = 0  # miner rewards still vesting (not spendable until their window ends)

    @property
    def summary(self) -> str:
        """ "12.5 POT spendable, 27.5 POT vesting"."""
        return f"{format_pot(self.total)} spendable, {format_pot(self.pending)} vesting"


def parse_balance(raw: Any) -> Balance:
    accounts = _dict(raw, "accounts")
    return Balance(
        spending=int(_dict(accounts, "spending").get("balance") or 0),
        reward=int(_dict(accounts, "reward").get("balance") or 0),
        total=int(raw.get("total") or 0) if isinstance(raw, dict) else 0,
        pending=int(raw.get("pending") or 0) if isinstance(raw, dict) else 0,
    )


def parse_addresses(raw: Any) -> dict[str, str]:
    """role -> address, from `wallet.address`."""
    return {k: v for k, v in _dict(raw, "addresses").items() if isinstance(v, str)}


@dataclass
class KeyRoles:
    """Which key holds what and where it is kept (from `wallet.address`'s `keys`), for the wallet page."""

    single_key: bool = False
    spending_kept: str = ""
    reward_kept: str = ""
    mining_ready: bool = False  # the miner holds the reward key (mining needs no password now)

    def text(self) -> str:
        if not self.spending_kept:
            return ""
        if self.single_key:
            return (
                "This wallet has one key for both roles (it was imported from a private key), kept "
                "encrypted: mining after a restart needs the password. A wallet made from a seed phrase "
                "mines by itself after a restart."
            )
        return (
            f"Spending key: holds your savings, kept in the {self.spending_kept}; every send asks for the "
            f"password.\nReward key: receives mining rewards and signs your work, kept in the "
            f"{self.reward_kept}, so mining resumes by itself after a restart. Move rewards to the "
            "spending account to keep them safe."
        )


def parse_key_roles(raw: Any) -> KeyRoles:
    keys = _dict(raw, "keys")
    spending, reward = _dict(keys, "spending"), _dict(keys, "reward")
    return KeyRoles(
        single_key=bool(keys.get("single_key", False)),
        spending_kept=str(spending.get("kept", "")),
        reward_kept=str(reward.get("kept", "")),
        mining_ready=bool(reward.get("mining_ready", False)),
    )


def parse_config(raw: Any) -> dict[str, Any]:
    """The config sections, from `config.get` / `config.set`."""
    return _dict(raw, "config")


def send_params(
    to: str, grains: int, fee_grains: int, memo: str, password: str, account: str = "spending"
) -> dict[str, Any]:
    """`wallet.send` params: amounts travel as decimal POT strings, never floats; `account` is the role
    paying (spending, or reward: where mining rewards arrive)."""
    return {
        "to": to,
        "amount": format_pot(grains, unit=False).replace(",", ""),
        "fee": format_pot(fee_grains, unit=False).replace(",", ""),
        "memo": memo,
        "password": password,
        "account": account,
    }


def export_params(kind: str, password: str, path: str, role: str = "spending") -> dict[str, Any]:
    """`wallet.export` params; `kind` is phrase, raw_key (of `role`: spending or reward) or keystore
    (which writes to `path`)."""
    params: dict[str, Any] = {"what": kind, "password": password, "role": role}
    if path:
        params["destination"] = path
    return params


def export_secret(kind: str, result: Any) -> str:
    """The secret an export returned: the words, the hex key, or the file written."""
    key = {"phrase": "phrase", "raw_key": "private_key", "keystore": "destination"}[kind]
    return str(result.get(key, "")) if isinstance(result, dict) else ""


def format_pot(grains: int, signed: bool = False, unit: bool = True) -> str:
    """Exact decimal POT from grains: 1500000000 -> "1.5 POT" (no floats)."""
    sign = "-" if grains < 0 else ("+" if signed and grains > 0 else "")
    whole, frac = divmod(abs(int(grains)), GRAINS_PER_POT)
    text = f"{sign}{whole:,}" + (f".{frac:09d}".rstrip("0") if frac else "")
    return f"{text} POT" if unit else text


def parse_pot(text: str) -> int:
    """Grains in "1.5" or "1.5 POT"; ValueError with a message to show next to the field."""
    value = text.strip().replace(",", "")
    if value.upper().endswith("POT"):
        value = value[:-3].strip()
    if not value:
        raise ValueError("Enter an amount, such as 1.5")
    whole, _, frac = value.partition(".")
    if not (whole or frac) or not (whole.isdigit() or whole == "") or not (frac.isdigit() or frac == ""):
        raise ValueError(f"'{text.strip()}' is not an amount; use digits and one '.'")
    if len(frac) > 9:
        raise ValueError("At most 9 decimals (1 grain is 0.000000001 POT)")
    return int(whole or "0") * GRAINS_PER_POT + int(frac.ljust(9, "0") or "0")
