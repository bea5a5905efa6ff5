"""The miner's side of a round: train each open task's current round once, then gossip the receipt.

`MinerDesk` decides on the node thread which rounds to train (pure bookkeeping); the training itself
runs in the training worker process (`app.node.training` for a miner node, the mining controller for
the daemon), seeded from the round's anchor block (`ChainState.round_anchor`) and the miner's public key,
so the work is bound to this key and this round and cannot be precomputed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.core import crypto
from app.core.tasks import TASK_OPEN
from app.miner.loop import RoundJob
from app.node.light_state import StateView

log = logging.getLogger(__name__)


class MinerDesk:
    """Which (task, round) pairs this miner has started; asks for each open round exactly once."""

    def __init__(self, key: crypto.SigningKey, schedule_train: Callable[[RoundJob], None]) -> None:
        self.key = key
        self._schedule = schedule_train
        self._started: set[tuple[bytes, int]] = set()

    def mark_started(self, task_id: bytes, round_number: int) -> None:
        """Never train (task, round) here (a receipt for it was signed before a restart)."""
        self._started.add((task_id, round_number))

    def on_head(self, head: StateView) -> None:
        for task_id, task in sorted(head.tasks().items()):
            if task.status != TASK_OPEN or (task_id, task.round) in self._started:
                continue
            self._started.add((task_id, task.round))
            job = RoundJob(
                chain_id=head.chain_id,
                task_id=task_id,
                spec=task.spec,
                round=task.round,
                anchor_block_hash=head.round_anchor(task_id),
                base_checkpoint=task.checkpoint,
            )
            log.info("training round %d of task %s", task.round, task_id.hex()[:16])
            self._schedule(job)
