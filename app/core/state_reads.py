"""The reads of tasks and rewards that a full node's `ChainState` and a light node's `ProvenState` share.

Both hold `_tasks` (task id -> TaskState), `_rewards` (receipt id -> PendingReward) and a `head_hash`;
the light one holds only entries proven against a verified header, so the same answers mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.core.errors import UnknownTask
from app.core.hashing import ZERO_HASH
from app.core.rewards import REWARD_PENDING, PendingReward
from app.core.tasks import TaskState


class StateReads:
    _tasks: Mapping[bytes, TaskState]
    _rewards: Mapping[bytes, PendingReward]
    head_hash: bytes  # a field of one, a property of the other: declared, never defined here

    def task(self, task_id: bytes) -> TaskState | None:
        return self._tasks.get(task_id)

    def tasks(self) -> Mapping[bytes, TaskState]:
        return self._tasks

    def pending_reward(self, receipt_id: bytes) -> PendingReward | None:
        """The reward paid for an included receipt, while it is pending or recently settled."""
        return self._rewards.get(receipt_id)

    def pending_rewards(self, address: bytes | None = None) -> dict[bytes, PendingReward]:
        """Receipt id -> reward of the rewards still pending (of one miner's address if given)."""
        return {
            rid: r
            for rid, r in self._rewards.items()
            if r.status == REWARD_PENDING and (address is None or r.miner == address)
        }

    def round_anchor(self, task_id: bytes) -> bytes:
        """The hash of the block that opened the task's current round (the miners' data-order seed)."""
        task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTask(f"no task {task_id.hex()[:16]}")
        return task.anchor if task.anchor != ZERO_HASH else self.head_hash
