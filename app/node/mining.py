"""The miner's side of a round: train each open task's current round once, then gossip the receipt.

`MinerDesk` decides on the node thread which rounds to train (pure bookkeeping); the training itself
runs on the worker thread through `train`, which seeds the data order from the round's anchor block
(`ChainState.round_anchor`), so the work is bound to this key and this round and cannot be precomputed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from app.core import crypto
from app.core.tasks import TASK_OPEN
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.node.light_state import StateView
from app.node.work import TrainingWork

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


def train(job: RoundJob, key: crypto.SigningKey, work: TrainingWork, resume_root: Path) -> RoundOutput:
    """Train the round `job` to the end (blocking; worker thread)."""
    work.ensure(job.base_checkpoint)
    data = work.training_data(job.spec)
    resume = ResumeDir(resume_root / f"{job.task_id.hex()[:16]}-{job.round}")
    out = train_round(job, key, work.blobs, data, device=work.device, resume=resume)
    assert isinstance(out, RoundOutput)  # no should_pause, so it never pauses
    return out
