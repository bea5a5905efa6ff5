"""The daemon's view of a light node: the same public methods as `NodePort`, every answer proven.

`state` is the light node's latest `ProvenState` (before the first one, the genesis state, which the
chain's files fix), so the RPC handlers read balances, tasks and rewards exactly as they do from a
full node, and nothing they show rests on a full node's word. History comes as proven items: our
transactions by Merkle inclusion against verified headers (the history protocol), our rewards from the
proven reward entries of our own receipts (app/node/light_rewards.py). There are no block bodies:
`block()` is None, and `header()` gives the verified header.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from app.core.crypto import SigningKey, key_hash
from app.core.errors import InvalidProof, PotError
from app.core.genesis import genesis_block
from app.core.history import MAX_HISTORY_PAGE as HISTORY_LIMIT
from app.core.storage import RewardEntry, TxEntry
from app.core.types import AnyTransaction, Block, BlockHeader, Reward, WorkReceipt
from app.daemon.port_common import PortCommon
from app.miner.loop import RoundJob
from app.node.light_node import LightNode
from app.node.light_state import ProvenState, StateView
from app.node.mining import MinerDesk
from app.pot.proof import TrainingTrace

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class LightPort(PortCommon):
    """What the daemon needs, from a `LightNode`; see the module docstring."""

    mode = "light"

    def __init__(self, node: LightNode) -> None:
        self._node = node
        self._genesis_state = genesis_block(node.genesis)[1]
        self._rounds_lock = threading.Lock()
        self._rounds: dict[bytes, list[dict[str, Any]]] = {}  # task id -> closed rounds seen, oldest first
        self._last_tasks: dict[bytes, tuple[int, int | None]] = {}
        node.on_head(self._note_rounds)

    # -- reads (any thread) ---------------------------------------------------------------------
    @property
    def light(self) -> LightNode:
        return self._node

    @property
    def state(self) -> StateView:
        view: ProvenState | None = self._node.view
        return view if view is not None else self._genesis_state

    @property
    def hrp(self) -> str:
        return self._node.params.address_hrp

    @property
    def chain_id(self) -> str:
        return self._node.params.chain_id

    def block(self, height: int) -> Block | None:
        return None  # a light node keeps no bodies

    def header(self, height: int) -> BlockHeader | None:
        for header in list(self._node.client.headers.recent):
            if header.height == height:
                return header
        return None

    def txs_of(self, address: bytes, limit: int) -> list[TxEntry]:
        """`address`'s transactions, each proven included under a header verified here."""
        return [
            TxEntry(item.header.height, item.index, item.tx)
            for item in self._node.proven_history(address, min(limit, HISTORY_LIMIT))
        ]

    def rewards_of(self, address: bytes, limit: int) -> list[RewardEntry]:
        return [
            RewardEntry(
                e.height,
                0,
                Reward(recipient=address, amount=e.reward.amount, kind=Reward.KIND_MINER, task_id=e.reward.task_id),
            )
            for e in self._node.rewards.paid_to(address)[:limit]
        ]

    def task_history(self, task_id: bytes) -> list[dict[str, Any]]:
        """The task's rounds this light node saw close (it has no blocks to scan for older ones)."""
        with self._rounds_lock:
            return [dict(e) for e in self._rounds.get(task_id, [])]

    def _note_rounds(self, view: ProvenState) -> None:
        with self._rounds_lock:
            for task_id, task in view.tasks().items():
                seen = self._last_tasks.get(task_id)
                if seen is not None and task.round > seen[0] and task.last_loss_micro is not None:
                    self._rounds.setdefault(task_id, []).append(
                        {"round": task.round - 1, "height": view.height, "validation_loss": task.last_loss_micro / 1e6}
                    )
                self._last_tasks[task_id] = (task.round, task.last_loss_micro)

    # -- transactions and mining ----------------------------------------------------------------
    def pending_from(self, sender: bytes) -> list[AnyTransaction]:
        return self._node.sent_by(sender)

    def account_for_sending(self, public_key: bytes) -> tuple[int, int]:
        account = self._node.prove_account(key_hash(public_key))
        pending = [t for t in self._node.sent_by(public_key) if t.nonce >= account.nonce]
        spent = sum(getattr(tx, "amount", 0) + tx.fee for tx in pending)
        return max(0, account.balance - spent), account.nonce + len(pending)

    def submit(self, tx: AnyTransaction) -> bytes:
        """Check what a light node can (signature, chain, nonce against the proven account), then gossip."""
        from app.daemon.node_port import tx_error_message

        try:
            tx.verify_signature()
            if tx.chain_id != self.chain_id:
                raise InvalidProof(f"transaction for chain {tx.chain_id!r}")
        except PotError as exc:
            raise PotError(tx_error_message(exc)) from None
        self._node.send(tx)
        log.info("submitted %s %s", type(tx).__name__, tx.tx_id.hex()[:16])
        return tx.tx_id

    def publish_receipt(self, receipt: WorkReceipt, trace: TrainingTrace) -> None:
        self._node.add_receipt(receipt, trace)

    def install_miner(self, key: SigningKey, offer: Callable[[RoundJob], None]) -> None:
        self._node.watch(self._node_watched(key))
        self._node.install_miner(MinerDesk(key, offer))

    def watch(self, addresses: set[bytes]) -> None:
        """The wallet's addresses: proven with every view."""
        self._node.watch(addresses)

    def _node_watched(self, key: SigningKey) -> set[bytes]:
        return {key_hash(key.public_key)}

    def ensure_task_data(self, job: RoundJob) -> None:
        self._node.ensure_task_data(job)

    def run(self) -> None:
        self._node.run()

    def stop(self) -> None:
        self._node.stop()
