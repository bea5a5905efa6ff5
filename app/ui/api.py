"""The narrow daemon interface the window uses (bitcoin-qt's interfaces::Node idea).

Every RPC method name and every result field the window reads is named here, and nowhere else; pages
ask for typed records, never raw dicts. When the daemon's API changes, this file changes. Parsing is
lenient the way docs/RPC.md asks: unknown fields are ignored, a missing field takes its default.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

# Method names (docs/RPC.md).
STATUS = "status"
MINING_STATE = "mine.state"
MINING_START = "mine.start"
MINING_PAUSE = "mine.pause"
MINING_RESUME = "mine.resume"
DEVICES = "mining.devices"
WALLET_CREATE = "wallet.create"
WALLET_RESTORE = "wallet.restore"
WALLET_ADDRESS = "wallet.address"
WALLET_BALANCE = "wallet.balance"
WALLET_CHECK_ADDRESS = "wallet.check_address"
WALLET_FEE = "wallet.fee_estimate"
WALLET_SEND = "wallet.send"
WALLET_HISTORY = "wallet.history"
WALLET_EXPORT = "wallet.export"
TASKS = "task.list"
PEERS = "peers"
LOGS = "logs"
CONFIG_GET = "config.get"
CONFIG_SET = "config.set"

ALL_EVENTS = ("new_block", "round_started", "receipt_verified", "reward", "mining_state", "warning", "log")

# Method error codes the window reacts to specifically (≥ 1000, docs/RPC.md).
WRONG_PASSWORD = 1001
INVALID_ADDRESS = 1002
INSUFFICIENT_FUNDS = 1003
NO_WALLET = 1004

GRAINS_PER_POT = 10**9

T = TypeVar("T")


def parse(cls: type[T], raw: Any) -> T:
    """A `cls` record from a result object, ignoring unknown fields and keeping defaults for missing ones."""
    if not isinstance(raw, dict):
        return cls()
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in raw.items() if k in names})


def parse_list(cls: type[T], raw: Any) -> list[T]:
    return [parse(cls, item) for item in raw] if isinstance(raw, list) else []


@dataclass
class WalletInfo:
    exists: bool = False
    locked: bool = True
    address: str = ""


@dataclass
class Status:
    version: str = ""
    chain: str = ""
    node_mode: str = ""
    height: int = 0
    peers: int = 0
    synced: bool = False
    sync_progress: float = 0.0  # 0..1
    data_dir: str = ""
    committee: list[str] = field(default_factory=list)
    wallet: dict[str, Any] = field(default_factory=dict)

    @property
    def wallet_info(self) -> WalletInfo:
        return parse(WalletInfo, self.wallet)


@dataclass
class MiningInfo:
    state: str = "off"  # off, waiting, mining, paused, error, syncing
    reason: str = ""
    task_id: str = ""
    task_name: str = ""
    round: int = 0
    step: int = 0
    total_steps: int = 0
    loss_curve: list[list[float]] = field(default_factory=list)  # [[step, validation loss], ...]
    throughput: float = 0.0  # samples per second
    device: str = ""
    device_load: float | None = None  # percent
    temperature_c: float | None = None
    rewards_today: int = 0  # grains


@dataclass
class Device:
    id: str = ""
    name: str = ""
    kind: str = ""  # cpu, cuda, mps
    memory_bytes: int = 0


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


@dataclass
class Peer:
    peer_id: str = ""
    address: str = ""
    direction: str = ""
    height: int = 0
    score: float = 0.0


@dataclass
class Task:
    task_id: str = ""
    name: str = ""
    fee: int = 0
    rounds_left: int = 0


@dataclass
class LogLine:
    seq: int = 0
    time: float = 0.0
    level: str = "INFO"
    logger: str = ""
    message: str = ""


@dataclass
class Balance:
    spending: int = 0
    reward: int = 0
    total: int = 0


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
