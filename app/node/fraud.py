"""Fraud proofs on a validator: the re-execution verdicts it votes on, and the pool its leader proposes from.

The state machine checks only a proof's structure; whether the challenged segment really replays
outside tolerance needs torch (`app.pot.fraud.check_fraud_proof`). A Byzantine leader could
otherwise frame an honest miner with a well-formed proof of a correct segment, so a committee member
votes for a block only once it re-executed every fraud proof in it itself and each verdict is
`fraud-proven` (docs/PROTOCOL.md, Part 4). Like `RoundDesk`, this is bookkeeping on the node thread: the
re-execution is requested through `schedule_check` and its verdict comes back through `checked`.

The verifier's task view for a proof is the one of the receipt's round, which is over by then: its
spec and the hash of the block that opened that round (`round_view`, found in the stored blocks).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from app.core.errors import PotError
from app.core.fraud import DuplicateFraudProof, RewardVested, UnknownReceipt, check_fraud_proof_structure
from app.core.rewards import REWARD_PENDING
from app.core.state import ChainState
from app.core.types import Block, FraudProof, TaskPost, WorkReceipt
from app.node.rounds import RoundNotChecked
from app.pot.fraud import PROVEN
from app.pot.verify import TaskView, Verdict

log = logging.getLogger(__name__)

MAX_POOL = 256  # proofs waiting for a block; each names a distinct pending reward
UNAVAILABLE = "unavailable"  # a verdict that says nothing about the proof (its blobs could not be fetched)

BlockAt = Callable[[int], "Block | None"]


class AnchorNotFound(PotError):
    """The stored blocks do not show which block opened the receipt's round."""


def proof_id(proof: FraudProof) -> bytes:
    return hashlib.sha256(proof.encode()).digest()


def check_admissible(proof: FraudProof, head: ChainState) -> None:
    """Raise an `InvalidFraudProof` unless `proof` could go in the block after `head` (no re-execution)."""
    task = head.task(proof.receipt.task_id)
    reward = head.pending_reward(proof.receipt_id)
    if task is None or reward is None:
        raise UnknownReceipt(f"no reward held for receipt {proof.receipt_id.hex()[:16]}")
    check_fraud_proof_structure(proof, head.chain_id, task.spec)
    if reward.status != REWARD_PENDING:
        raise DuplicateFraudProof(f"the reward of receipt {proof.receipt_id.hex()[:16]} is no longer pending")
    if reward.unlock_height < head.height + 1:
        raise RewardVested(f"the reward of receipt {proof.receipt_id.hex()[:16]} vested at {reward.unlock_height}")


def round_anchor_in_blocks(block_at: BlockAt, task_id: bytes, round_number: int, before_height: int) -> bytes:
    """The hash of the block that opened round `round_number` of `task_id`, searching down from `before_height - 1`.

    Round 0 opens with the block that holds the TaskPost (whose tx id is the task id); round r > 0 with
    the block that holds the RoundResult of round r - 1.
    """
    for height in range(before_height - 1, -1, -1):
        block = block_at(height)
        if block is None:
            break
        body = block.body
        if round_number == 0:
            if any(isinstance(tx, TaskPost) and tx.tx_id == task_id for tx in body.transactions):
                return block.block_hash
        elif any(r.task_id == task_id and r.round == round_number - 1 for r in body.results):
            return block.block_hash
    raise AnchorNotFound(
        f"no stored block below {before_height} opened round {round_number} of task {task_id.hex()[:16]}"
    )


def round_view(block_at: BlockAt, proof: FraudProof, head: ChainState) -> TaskView:
    """The verifier's task view of the round `proof`'s receipt was paid in (its spec and anchor)."""
    return receipt_view(block_at, proof.receipt, head)


def receipt_view(block_at: BlockAt, receipt: WorkReceipt, head: ChainState) -> TaskView:
    """The task view of the round an included `receipt` was paid in (fraud-proof checks, the auditor)."""
    task = head.task(receipt.task_id)
    reward = head.pending_reward(receipt.receipt_id)
    if task is None or reward is None:
        raise UnknownReceipt(f"no reward held for receipt {receipt.receipt_id.hex()[:16]}")
    # the paying height is not kept (vesting differs per key), so search down from the head: the block
    # that opened the round is unique, and at most one vesting window above the paying block
    anchor = round_anchor_in_blocks(block_at, receipt.task_id, receipt.round, head.height + 1)
    return TaskView(
        spec=task.spec,
        current_round=task.round,
        current_checkpoint=task.checkpoint,
        anchor_block_hash=anchor,
        finished=False,
    )


@dataclass
class _Entry:
    proof: FraudProof
    verdict: Verdict | None = None  # None while the re-execution runs
    pooled: bool = False  # offered by gossip: the leader may propose it once proven


class FraudDesk:
    """Re-execution verdicts on fraud proofs, and the pool of proven ones, as seen by one validator."""

    def __init__(
        self,
        schedule_check: Callable[[FraudProof, TaskView], None],
        view_of: Callable[[FraudProof, ChainState], TaskView],
        max_pool: int = MAX_POOL,
    ) -> None:
        self._schedule_check = schedule_check
        self._view_of = view_of
        self._max_pool = max_pool
        self._entries: dict[bytes, _Entry] = {}

    def verdict(self, proof: FraudProof) -> Verdict | None:
        entry = self._entries.get(proof_id(proof))
        return entry.verdict if entry is not None else None

    def _check(self, proof: FraudProof, head: ChainState) -> _Entry:
        """The entry of `proof`, scheduling its re-execution the first time (raises if it cannot apply)."""
        pid = proof_id(proof)
        entry = self._entries.get(pid)
        if entry is not None:
            return entry
        check_admissible(proof, head)
        view = self._view_of(proof, head)
        entry = self._entries[pid] = _Entry(proof)
        self._schedule_check(proof, view)
        return entry

    # ------------------------------------------------------------------ inputs

    def offer(self, proof: FraudProof, head: ChainState) -> bool:
        """Take a gossiped proof for the pool: raise `PotError` if it cannot apply on `head`; False if known."""
        pid = proof_id(proof)
        if pid in self._entries and self._entries[pid].pooled:
            return False
        if sum(e.pooled for e in self._entries.values()) >= self._max_pool:
            raise PotError(f"the fraud-proof pool holds {self._max_pool} proofs already")
        entry = self._check(proof, head)
        entry.pooled = True
        return True

    def checked(self, proof: FraudProof, verdict: Verdict) -> None:
        entry = self._entries.get(proof_id(proof))
        if entry is not None:
            entry.verdict = verdict

    def on_commit(self, head: ChainState) -> None:
        """Forget proofs whose reward is no longer pending, and verdicts that said nothing (unavailable data)."""
        for pid, entry in list(self._entries.items()):
            try:
                check_admissible(entry.proof, head)
            except PotError:
                del self._entries[pid]
                continue
            if entry.verdict is not None and entry.verdict.reason == UNAVAILABLE:
                del self._entries[pid]  # ask again: the blobs may be reachable now

    # ------------------------------------------------------------------ blocks

    def ready(self, head: ChainState) -> list[FraudProof]:
        """Pooled proofs this member re-executed and found proven, that still apply on `head`."""
        out = []
        for entry in self._entries.values():
            if entry.pooled and entry.verdict is not None and entry.verdict.reason == PROVEN:
                try:
                    check_admissible(entry.proof, head)
                except PotError:
                    continue
                out.append(entry.proof)
        return out

    def missing_work(self, block: Block, head: ChainState) -> bool:
        """True if a fraud proof of `block` is still being re-executed here (scheduling those not yet asked)."""
        pending = False
        for proof in block.body.fraud_proofs:
            try:
                entry = self._check(proof, head)
            except PotError as exc:
                log.info("fraud proof in proposal %d cannot apply: %s", block.header.height, exc)
                continue  # the state check in validation rejects it; check_block refuses it too
            pending = pending or entry.verdict is None
        return pending

    def check_block(self, block: Block) -> None:
        """Raise unless every fraud proof in `block` was re-executed here with the verdict `fraud-proven`."""
        for proof in block.body.fraud_proofs:
            verdict = self.verdict(proof)
            if verdict is None:
                raise RoundNotChecked(
                    f"fraud proof against receipt {proof.receipt_id.hex()[:16]} was not re-executed here"
                )
            if verdict.reason != PROVEN:
                raise RoundNotChecked(
                    f"fraud proof against receipt {proof.receipt_id.hex()[:16]} is not proven here "
                    f"({verdict.reason}: {verdict.detail})"
                )
