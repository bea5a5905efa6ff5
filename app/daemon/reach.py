"""Whether the daemon is on the network it was asked to join, or alone on an island.

A node that reaches none of the test network's bootstrap peers still starts, but it would follow a chain
nobody else sees: `decide` says so after a grace period, the watcher publishes that as a DaemonWarning
(source "network") and in `status`, and the daemon offers no rounds to the miner while it lasts. The
practice (local) network is always reachable: its peers run on this machine.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from app.daemon import events as ev
from app.daemon.events import EventBus

log = logging.getLogger(__name__)

GRACE_S = 20.0  # dials to bootstrap peers get this long before the island is reported
POLL_S = 2.0

PRACTICE = "practice"
CONNECTED = "connected"
CONNECTING = "connecting"
UNREACHABLE = "unreachable"


def grace_s() -> float:
    """The grace period; $POTMINER_REACH_GRACE_S shortens it for tests (at least 0.5 s)."""
    try:
        return max(0.5, float(os.environ.get("POTMINER_REACH_GRACE_S", GRACE_S)))
    except ValueError:
        return GRACE_S


@dataclass(frozen=True)
class Reach:
    state: str
    chain: str
    bootstrap: int  # peers in the bootstrap list
    connected: int  # peers connected now
    message: str

    @property
    def island(self) -> bool:
        """True when mining would be silent work on a chain nobody else follows."""
        return self.state == UNREACHABLE

    def to_json(self) -> dict[str, object]:
        return asdict(self) | {"island": self.island}


def decide(chain: str, bootstrap: int, connected: int, waited_s: float, grace_s: float = GRACE_S) -> Reach:
    """The reach of a node on `chain` that has `connected` peers, `waited_s` after it started dialing."""
    if chain == "devnet":
        return Reach(PRACTICE, chain, bootstrap, connected, "Practice network (a devnet, not the public test network)")
    if connected > 0:
        return Reach(CONNECTED, chain, bootstrap, connected, f"Connected to the {chain} ({connected} peers)")
    if bootstrap == 0:
        return Reach(
            UNREACHABLE,
            chain,
            0,
            0,
            f"The {chain} has no bootstrap peers to join: give a list with --bootstrap-file or in Settings, "
            "or switch to the practice network. Mining is paused until then.",
        )
    if waited_s < grace_s:
        return Reach(CONNECTING, chain, bootstrap, 0, f"Connecting to the {chain} ({bootstrap} bootstrap peers)...")
    return Reach(
        UNREACHABLE,
        chain,
        bootstrap,
        0,
        f"None of the {chain}'s {bootstrap} bootstrap peers can be reached: check the internet connection "
        "or give a newer list with --bootstrap-file, or switch to the practice network. "
        "Mining is paused until the network is reached.",
    )


class ReachWatcher:
    """Polls the node's connected peers, keeps the latest `Reach`, announces each change on the bus."""

    def __init__(
        self,
        chain: str,
        bootstrap: int,
        connected: Callable[[], int],
        bus: EventBus,
        grace: float | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self._chain, self._bootstrap, self._connected, self._bus = chain, bootstrap, connected, bus
        self._grace_s, self._poll_s = grace if grace is not None else grace_s(), min(poll_s, grace or poll_s)
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reach", daemon=True)
        self.current = decide(chain, bootstrap, 0, 0.0, self._grace_s)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> Reach:
        """Recompute now (also what the poll thread runs); publishes a warning when the state changes."""
        try:
            connected = self._connected()
        except Exception as exc:  # noqa: BLE001 - a busy node answers late: keep the last count
            log.debug("peer count unavailable: %s", exc)
            connected = self.current.connected
        reach = decide(self._chain, self._bootstrap, connected, time.monotonic() - self._started, self._grace_s)
        if reach.state != self.current.state:
            (log.warning if reach.island else log.info)("network: %s", reach.message)
            self._bus.publish(ev.DaemonWarning(message=reach.message, source="network"))
        self.current = reach
        return reach

    def _run(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.check()
