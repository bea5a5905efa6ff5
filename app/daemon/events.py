"""A typed in-process event bus: the node, wallet and miner publish; the RPC server and others listen.

Electrum's CallbackManager idea without its global: the daemon builds one `EventBus` and passes it to
whoever publishes or listens. Delivery is synchronous in the publisher's thread and serialised by one
lock, so every listener sees events in one global order; listeners must therefore be quick (enqueue and
return). A failing listener is logged and the others still get the event.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, ClassVar, Iterable

from app.rpc.protocol import EVENT_KINDS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of all events; `KIND` is the name clients subscribe to (see protocol.EVENT_KINDS)."""

    KIND: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class NewBlock(Event):
    KIND: ClassVar[str] = "new_block"
    height: int
    block_id: str
    timestamp: int
    tx_count: int


@dataclass(frozen=True)
class RoundStarted(Event):
    KIND: ClassVar[str] = "round_started"
    round: int
    task_id: str


@dataclass(frozen=True)
class ReceiptVerified(Event):
    KIND: ClassVar[str] = "receipt_verified"
    receipt_id: str
    task_id: str
    miner: str
    accepted: bool


@dataclass(frozen=True)
class Reward(Event):
    KIND: ClassVar[str] = "reward"
    address: str
    amount: int
    height: int
    task_id: str
    vesting: bool = False  # a miner reward: pending until the end of block `unlock_height`, not spendable yet
    unlock_height: int | None = None


@dataclass(frozen=True)
class MiningState(Event):
    """`state`: off, waiting, mining, paused or error; `reason` says why (BOINC's suspend reason)."""

    KIND: ClassVar[str] = "mining_state"
    state: str
    reason: str = ""


@dataclass(frozen=True)
class MiningProgress(Event):
    """The round training now: sent at most ~2 per second (and at its last step), so a window needs no poll."""

    KIND: ClassVar[str] = "mining_progress"
    task_id: str
    round: int
    step: int
    total_steps: int
    loss: float
    samples_per_s: float
    device_load: float | None = None
    temperature_c: float | None = None


@dataclass(frozen=True)
class DaemonWarning(Event):
    KIND: ClassVar[str] = "warning"
    message: str
    source: str = ""


@dataclass(frozen=True)
class LogLine(Event):
    KIND: ClassVar[str] = "log"
    seq: int
    time: float
    level: str
    logger: str
    message: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.KIND: cls
    for cls in (NewBlock, RoundStarted, ReceiptVerified, Reward, MiningState, MiningProgress, DaemonWarning, LogLine)
}
assert set(EVENT_TYPES) == EVENT_KINDS, "events.py and protocol.EVENT_KINDS must name the same kinds"

Listener = Callable[[Event], None]


class Subscription:
    """A listener's registration; `close()` stops delivery (idempotent)."""

    def __init__(self, bus: EventBus, listener: Listener, kinds: frozenset[str] | None) -> None:
        self._bus = bus
        self.listener = listener
        self.kinds = kinds

    def wants(self, event: Event) -> bool:
        return self.kinds is None or event.KIND in self.kinds

    def close(self) -> None:
        self._bus._remove(self)


class EventBus:
    """Fan-out of events to listeners, thread-safe, ordered."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._subs: list[Subscription] = []

    def subscribe(self, listener: Listener, kinds: Iterable[str] | None = None) -> Subscription:
        """Register `listener` for `kinds` (all kinds when None); unknown kinds are a ValueError."""
        wanted = None if kinds is None else frozenset(kinds)
        if wanted is not None and not wanted <= EVENT_KINDS:
            raise ValueError(f"unknown event kind(s): {', '.join(sorted(wanted - EVENT_KINDS))}")
        sub = Subscription(self, listener, wanted)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def publish(self, event: Event) -> None:
        """Deliver `event` to every interested listener, in subscription order."""
        if not isinstance(event, Event) or type(event) is Event:
            raise TypeError(f"publish() takes an Event subclass instance, not {type(event).__name__}")
        with self._lock:
            for sub in list(self._subs):
                if not sub.wants(event):
                    continue
                try:
                    sub.listener(event)
                except Exception:
                    log.exception("event listener %r failed on %s", sub.listener, event.KIND)

    def __len__(self) -> int:
        with self._lock:
            return len(self._subs)
