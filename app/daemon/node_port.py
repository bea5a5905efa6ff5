"""The daemon's narrow, thread-safe view of the embedded node (bitcoin-qt's node interface idea).

The node keeps all its state on its own event-loop thread without locks; RPC handlers and the mining
service run on other threads. Reads go to the immutable head `ChainState` and the store (one SQLite
connection per thread); every change is posted to the node's loop and waited for. All access to the
node's internals is in this one module, so a change there is a change here only.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from app.core.crypto import SigningKey
from app.core.errors import PotError
from app.core.state import ChainState
from app.core.tasks import TASK_OPEN
from app.core.types import AnyTransaction, Block, WorkReceipt
from app.miner.loop import RoundJob
from app.node.mining import MinerDesk
from app.node.node import Node
from app.pot.proof import TrainingTrace

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 30.0


class NodeUnavailable(RuntimeError):
    """The node did not answer (stopping, or its loop is stuck)."""


class NodePort:
    """What the daemon needs from a `Node`: state, transactions, receipts, peers, blocks."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._history_lock = threading.Lock()
        self._history: dict[bytes, list[dict[str, Any]]] = {}  # task id -> closed rounds, oldest first
        self._history_tip: tuple[int, bytes] | None = None  # (height, hash) of the last block scanned

    # -- reads (any thread) ---------------------------------------------------------------------
    @property
    def state(self) -> ChainState:
        return self.node.chain.state

    @property
    def hrp(self) -> str:
        return self.node.chain.params.address_hrp

    @property
    def chain_id(self) -> str:
        return self.node.chain.params.chain_id

    def block(self, height: int) -> Block | None:
        return self.node.chain.store.block_by_height(height)

    def peers(self) -> list[dict[str, Any]]:
        peers = self.node.net.call(lambda h: _peers(h), timeout_s=5)
        return [
            {"peer_id": p.peer_id, "score": round(p.score, 2), "connected": p.connected, "banned": p.banned}
            for p in peers
        ]

    def listen_addrs(self) -> list[str]:
        return [str(a) for a in self.node.net.listen_addrs]

    @property
    def blob_dir(self) -> Path:
        return self.node.blobs.root

    def is_open(self, job: RoundJob) -> bool:
        """Whether the chain still wants round `job` (same round, same base checkpoint, task open)."""
        task = self.state.task(job.task_id)
        return (
            task is not None
            and task.status == TASK_OPEN
            and task.round == job.round
            and task.checkpoint == job.base_checkpoint
        )

    def txs_of(self, address: bytes, limit: int) -> list[Any]:
        return self.node.chain.store.txs_by_address(address, limit=limit)

    def rewards_of(self, address: bytes, limit: int) -> list[Any]:
        return self.node.chain.store.rewards_by_address(address, limit=limit)

    def task_history(self, task_id: bytes) -> list[dict[str, Any]]:
        """The task's closed rounds from the chain's blocks: [{round, height, validation_loss}], oldest
        first. Blocks are scanned once (from the store, on the caller's thread) and the scan goes on from
        where it stopped; a changed block at the scanned tip (a reorg) starts it over."""
        with self._history_lock:
            store = self.node.chain.store
            head = store.head()
            if head is None:
                return []
            start = 0
            if self._history_tip is not None:
                height, block_hash = self._history_tip
                known = store.block_by_height(height)
                if known is not None and known.block_hash == block_hash and height <= head.height:
                    start = height + 1
                else:
                    self._history, self._history_tip = {}, None
            for height in range(start, head.height + 1):
                block = store.block_by_height(height)
                if block is None:
                    break
                for result in block.body.results:
                    self._history.setdefault(result.task_id, []).append(
                        {"round": result.round, "height": height, "validation_loss": result.validation_loss_micro / 1e6}
                    )
                self._history_tip = (height, block.block_hash)
            return [dict(entry) for entry in self._history.get(task_id, [])]

    # -- work on the node's loop ----------------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run `fn` on the node's loop thread and return its result (or raise its exception)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never lost on the loop
                future.set_exception(exc)

        self.node.loop.post(run)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise NodeUnavailable("the node did not answer in time; it may be stopping") from None

    def submit(self, tx: AnyTransaction) -> bytes:
        """Admit `tx` to the local mempool (raising the state's PotError if it is invalid), then gossip it."""

        def admit() -> None:
            self.node.mempool.add(tx, self.node.chain.state)

        self.call(admit)
        self._gossip(tx)
        log.info("submitted %s %s", type(tx).__name__, tx.tx_id.hex()[:16])
        return tx.tx_id

    def publish_receipt(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        """Serve the trace to verifiers, gossip the receipt, and repeat it until its round closes."""

        def publish() -> None:
            self.node.traces.add(trace, receipt)  # with its receipt: the disk pruner reads when it vests
            self.node._published[receipt.receipt_id] = (receipt, time.monotonic())  # node republishes these
            self.node._publish(receipt)

        self.call(publish)

    def install_miner(self, key: SigningKey, offer: Callable[[RoundJob], None]) -> None:
        """Have the node offer each open round to `offer` (called on the node's loop thread).

        Posted without waiting: it may run before the node's loop has started, and then runs first."""

        def install() -> None:
            self.node.miner = MinerDesk(key, offer)
            self.node.miner.on_head(self.node.chain.state)

        self.node.loop.post(install)

    def ensure_task_data(self, job: RoundJob) -> None:
        """Make the round's base checkpoint and the task's shards local (blocking network fetches)."""
        self.node.work.ensure(job.base_checkpoint)
        self.node.work.training_data(job.spec)

    def _gossip(self, record: Any) -> None:
        future = self.node.net.submit(lambda h: h.publish(record))
        future.add_done_callback(lambda f: f.exception() and log.info("publish failed: %s", f.exception()))

    def stop(self) -> None:
        self.node.loop.stop()


async def _peers(host):  # type: ignore[no-untyped-def]
    return host.peers()


def tx_error_message(exc: PotError) -> str:
    """The state's refusal, phrased for the person who sent the transaction."""
    return f"the network would refuse this transaction: {exc}"
