"""Tasks and their rounds: the task record, and the block rules that check receipts and close rounds.

A TaskPost opens a task with its whole escrow (app/core/accounts.py); a block closes a task's current
round with a `RoundResult` over exactly the block's receipts for it (`check_rounds`), pays the round's
fee and minted reward to its miners (`apply_rounds`, amounts from app/core/rewards.py), and finishes
the task after its last round or when the patience rule (app/core/patience.py) gives up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated

from app.core import admission, crypto, patience
from app.core.encoding import Bytes20, Bytes32, Range, Record, Uint64
from app.core.errors import InvalidBlock, InvalidReceipt, UnknownTask, WrongChain
from app.core.hashing import ZERO_HASH
from app.core.rewards import ClosedRound, compute_rewards, hold_reward, split_round, task_mints
from app.core.types import Reward, RoundResult, TaskPost, TaskSpec, WorkReceipt

if TYPE_CHECKING:
    from app.core.state import StateDraft

TASK_PREFIX = b"t"

TASK_OPEN = 0
TASK_FINISHED = 1
TASK_EXPIRED = 2


class InvalidRoundResult(InvalidBlock):
    """A RoundResult that does not close its task's current round with exactly the block's receipts."""


@dataclass(frozen=True)
class TaskState(Record):
    """A posted task's progress. `anchor` is the hash of the block that opened the current round.

    That hash is not known while the opening block is built (it commits to this state), so `anchor`
    stays ZERO_HASH until the next block fills it from its `prev_hash`; `ChainState.round_anchor`
    answers in the meantime.
    """

    TAG = 53
    spec: TaskSpec
    owner: Bytes20
    escrow: Uint64
    fee_per_round: Uint64
    round: Uint64
    checkpoint: Bytes32
    anchor: Bytes32
    round_opened: Uint64
    status: Annotated[int, Range(TASK_OPEN, TASK_EXPIRED)]
    last_loss_micro: Uint64 | None
    # The patience rule's progress (app/core/patience.py): the best validation loss so far and the
    # closed rounds since the last that beat it by the spec's margin.
    best_loss_micro: Uint64 | None = None
    stale_rounds: Uint64 = 0


def task_key(task_id: bytes) -> bytes:
    return TASK_PREFIX + task_id


def new_task(tx: TaskPost, owner: bytes, escrow: int, height: int) -> TaskState:
    """The state of the task `tx` opens at `height`: in round 0, holding its whole `escrow`."""
    return TaskState(
        spec=tx.spec,
        owner=owner,
        escrow=escrow,
        fee_per_round=tx.fee_per_round,
        round=0,
        checkpoint=tx.spec.initial_checkpoint,
        anchor=ZERO_HASH,
        round_opened=height,
        status=TASK_OPEN,
        last_loss_micro=None,
    )


def apply_rounds(
    draft: StateDraft, receipts: Sequence[WorkReceipt], results: Sequence[RoundResult], proposer_key: bytes
) -> tuple[Reward, ...]:
    """Check receipts and results, close the rounds, pay and credit work; return the rewards."""
    closing = check_rounds(draft, receipts, results)
    rounds = [
        ClosedRound(
            r.task_id,
            t.fee_per_round,
            t.owner,
            tuple((crypto.key_hash(x.miner), admission.compute_per_step(t.spec) * x.steps) for x in g),
        )
        for r, t, g in closing
    ]
    rewards = compute_rewards(draft.params, draft.block_height, draft.committee, proposer_key, rounds)
    for result, task, group in closing:
        _close_round(draft, result, task, group)
    for reward in rewards:
        if reward.kind != Reward.KIND_MINER:
            draft.credit(reward.recipient, reward.amount)
    if rounds:
        block_reward = draft.params.block_reward(draft.block_height)
        mints = task_mints(draft.params, block_reward - draft.params.validator_share(block_reward), rounds)
        for rnd, mint, (_, _, group) in zip(rounds, mints, closing):
            for receipt, (_, fee_share, mint_share) in zip(group, split_round(rnd, mint)):
                hold_reward(draft, receipt, fee_share + mint_share, mint_share)
        minted = sum(r.amount for r in rewards) - sum(rnd.fee for rnd in rounds)
        draft.meta = replace(draft.meta, minted=draft.meta.minted + minted)
    return rewards


def check_rounds(
    draft: StateDraft, receipts: Sequence[WorkReceipt], results: Sequence[RoundResult]
) -> list[tuple[RoundResult, TaskState, list[WorkReceipt]]]:
    """Raise unless every receipt is valid and claimed, in order, by the result closing its round."""
    groups = _check_receipts(draft, receipts)
    closing: list[tuple[RoundResult, TaskState, list[WorkReceipt]]] = []
    for result in results:
        task = _open_task(draft, result.task_id)
        if any(r.task_id == result.task_id for r, _, _ in closing):
            raise InvalidRoundResult(f"two results for task {result.task_id.hex()[:16]} in one block")
        if result.round != task.round:
            raise InvalidRoundResult(f"result for round {result.round}, the task is in round {task.round}")
        group = groups.pop(result.task_id, [])
        if not group:
            raise InvalidRoundResult("a result closes a round without any receipt")
        if tuple(rid for rid, _ in group) != result.receipt_ids:
            raise InvalidRoundResult("result's receipt ids differ from the block's receipts for the task")
        closing.append((result, task, [r for _, r in group]))
    if groups:
        raise InvalidRoundResult("receipts for a task whose round the block does not close")
    return closing


def _open_task(draft: StateDraft, task_id: bytes) -> TaskState:
    task = draft.tasks.get(task_id)
    if task is None:
        raise UnknownTask(f"no task {task_id.hex()[:16]}")
    if task.status != TASK_OPEN:
        raise UnknownTask(f"task {task_id.hex()[:16]} is no longer open")
    return task


def _check_receipts(draft: StateDraft, receipts: Sequence[WorkReceipt]) -> dict[bytes, list[tuple[bytes, WorkReceipt]]]:
    groups: dict[bytes, list[tuple[bytes, WorkReceipt]]] = {}
    seen: set[tuple[bytes, bytes]] = set()
    for receipt in receipts:
        if receipt.chain_id != draft.params.chain_id:
            raise WrongChain(f"receipt for chain {receipt.chain_id!r}")
        task = _open_task(draft, receipt.task_id)
        if receipt.round != task.round:
            raise InvalidReceipt("wrong-round", f"receipt for round {receipt.round}, task is in {task.round}")
        if receipt.base_checkpoint != task.checkpoint:
            raise InvalidReceipt("wrong-base", "base checkpoint is not the task's current checkpoint")
        if receipt.steps != task.spec.local_steps:
            raise InvalidReceipt("wrong-steps", f"{receipt.steps} steps, the task asks {task.spec.local_steps}")
        if (receipt.task_id, receipt.miner) in seen:
            raise InvalidReceipt("duplicate", "a second receipt of one miner for one round")
        receipt.verify_signature()
        seen.add((receipt.task_id, receipt.miner))
        groups.setdefault(receipt.task_id, []).append((receipt.receipt_id, receipt))
    return groups


def _close_round(draft: StateDraft, result: RoundResult, task: TaskState, receipts: list[WorkReceipt]) -> None:
    for receipt in receipts:
        address = crypto.key_hash(receipt.miner)
        draft.set_account(address, replace(draft.account(address), public_key=receipt.miner))
    next_round = task.round + 1
    progress = patience.next_progress(task.spec, task.best_loss_micro, task.stale_rounds, result.validation_loss_micro)
    task = replace(
        task,
        escrow=task.escrow - task.fee_per_round,
        round=next_round,
        checkpoint=result.new_checkpoint,
        anchor=ZERO_HASH,
        round_opened=draft.block_height,
        last_loss_micro=result.validation_loss_micro,
        best_loss_micro=progress.best_loss_micro,
        stale_rounds=progress.stale_rounds,
    )
    if next_round >= task.spec.rounds or progress.exhausted:  # the unspent escrow goes back to the owner
        draft.credit(task.owner, task.escrow)
        task = replace(task, escrow=0, status=TASK_FINISHED)
    draft.set_task(result.task_id, task)
