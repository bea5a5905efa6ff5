"""The daemon's narrow, thread-safe view of the embedded node (bitcoin-qt's node interface idea).

The node keeps all its state on its own event-loop thread without locks; RPC handlers and the mining
service run on other threads. Reads go to the immutable head `ChainState` and the store (one SQLite
connection per thread); every change is posted to the node's loop and waited for. All access to the
node's internals is in this one module, so a change there is a change here only: the daemon and its
RPC handlers use these public methods, never the `Node` itself.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from app.core.crypto import SigningKey
from app.core.errors import PotError
from app.core.state import ChainState
from app.core.types import AnyTransaction, Block, BlockHeader, WorkReceipt
from app.daemon.port_common import PortCommon
from app.miner.loop import RoundJob
from app.node.mining import MinerDesk
from app.node.node import Node
from app.pot.proof import TrainingTrace

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)
T = TypeVar("T")
CALL_TIMEOUT_S = 30.0


class NodeUnavailable(RuntimeError):
    """The node did not answer (stopping, or its loop is stuck)."""


class NodePort(PortCommon):
    """What the daemon needs from a `Node`: state, transactions, receipts, peers, blocks."""

    mode = "full"

    def __init__(self, node: Node) -> None:
        self._node = node
        self._history_lock = threading.Lock()
        self._history: dict[bytes, list[dict[str, Any]]] = {}  # task id -> closed rounds, oldest first
        self._history_tip: tuple[int, bytes] | None = None  # (height, hash) of the last block scanned

    # -- reads (any thread) ---------------------------------------------------------------------
    @property
    def state(self) -> ChainState:
        return self._node.chain.state

    @property
    def hrp(self) -> str:
        return self._node.chain.params.address_hrp

    @property
    def chain_id(self) -> str:
        return self._node.chain.params.chain_id

    def block(self, height: int) -> Block | None:
        return self._node.chain.store.block_by_height(height)

    def header(self, height: int) -> BlockHeader | None:
        block = self.block(height)
        return block.header if block is not None else None

    def txs_of(self, address: bytes, limit: int) -> list[Any]:
        return self._node.chain.store.txs_by_address(address, limit=limit)

    def rewards_of(self, address: bytes, limit: int) -> list[Any]:
        return self._node.chain.store.rewards_by_address(address, limit=limit)

    def task_history(self, task_id: bytes) -> list[dict[str, Any]]:
        """The task's closed rounds from the chain's blocks: [{round, height, validation_loss}], oldest
        first. Blocks are scanned once (from the store, on the caller's thread) and the scan goes on from
        where it stopped; a changed block at the scanned tip (a reorg) starts it over."""
        with self._history_lock:
            store = self._node.chain.store
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
    def pending_from(self, sender: bytes) -> list[AnyTransaction]:
        """The transactions signed by public key `sender` still waiting in the mempool, oldest first."""
        return self.call(lambda: _pending(self._node, sender))

    def account_for_sending(self, public_key: bytes) -> tuple[int, int]:
        """(balance, next nonce) for a new transaction by `public_key`, counting its transactions already
        in the mempool: their amounts and fees are spent, their nonces taken. Read on the node's loop, so
        the mempool cannot change between the two."""

        def read() -> tuple[int, int]:
            from app.core.crypto import key_hash

            account = self._node.chain.state.account(key_hash(public_key))
            pending = _pending(self._node, public_key)
            spent = sum(getattr(tx, "amount", 0) + tx.fee for tx in pending)
            return max(0, account.balance - spent), account.nonce + len(pending)

        return self.call(read)

    def call(self, fn: Callable[[], T], timeout: float = CALL_TIMEOUT_S) -> T:
        """Run `fn` on the node's loop thread and return its result (or raise its exception)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, never lost on the loop
                future.set_exception(exc)

        self._node.loop.post(run)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise NodeUnavailable("the node did not answer in time; it may be stopping") from None

    def submit(self, tx: AnyTransaction) -> bytes:
        """Admit `tx` to the local mempool (raising the state's PotError if it is invalid), then gossip it."""

        def admit() -> None:
            self._node.mempool.add(tx, self._node.chain.state)

        self.call(admit)
        self._gossip(tx)
        log.info("submitted %s %s", type(tx).__name__, tx.tx_id.hex()[:16])
        return tx.tx_id

    def publish_receipt(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        """Serve the trace to verifiers, gossip the receipt, and repeat it until its round closes."""

        def publish() -> None:
            self._node.traces.add(trace, receipt)  # with its receipt: the disk pruner reads when it vests
            self._node.publish_own_receipt(receipt)  # and the node republishes it until the round closes

        self.call(publish)

    def install_miner(self, key: SigningKey, offer: Callable[[RoundJob], None]) -> None:
        """Have the node offer each open round to `offer` (called on the node's loop thread).

        Posted without waiting: it may run before the node's loop has started, and then runs first."""

        def install() -> None:
            self._node.miner = MinerDesk(key, offer)
            self._node.miner.on_head(self._node.chain.state)

        self._node.loop.post(install)

    def ensure_task_data(self, job: RoundJob) -> None:
        """Make the round's base checkpoint and the task's shards local (blocking network fetches)."""
        self._node.work.ensure(job.base_checkpoint)
        self._node.work.training_data(job.spec)

    def _gossip(self, record: Any) -> None:
        future = self._node.net.submit(lambda h: h.publish(record))
        future.add_done_callback(lambda f: f.exception() and log.info("publish failed: %s", f.exception()))

    def run(self) -> None:
        """Run the node on this thread (the main one: it installs the signal handlers) until `stop()`."""
        self._node.run()

    def stop(self) -> None:
        self._node.loop.stop()


def _pending(node: Node, sender: bytes) -> list[AnyTransaction]:
    """`sender`'s transactions in `node`'s mempool; on the node's loop."""
    return [tx for tx in node.mempool.pending() if tx.sender == sender]


def tx_error_message(exc: PotError) -> str:
    """The state's refusal, phrased for the person who sent the transaction."""
    return f"the network would refuse this transaction: {exc}"
