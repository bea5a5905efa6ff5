"""Fraud proofs: the chain's structural check of a proof, and the claw-back of a cheating miner's stake.

Until its reward vests (app/core/rewards.py), a `FraudProof` claws back ALL the miner's pending
rewards (its stake): the challenger gets `fraud_bounty_bps` of each, each reward's fee part goes back
to its task's owner and the rest of its minted part is unminted (`ChainMeta.minted` counts net
issuance), so supply is conserved here too. Whether the proven segment really replays outside
tolerance is the committee's check before it votes (`app.pot.fraud`), not the state's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from app.core.errors import InvalidBlock, InvalidProof
from app.core.merkle import verify_proof
from app.core.rewards import REWARD_CLAWED, REWARD_PENDING, REWARD_VESTED
from app.core.types import FraudProof, TaskSpec

if TYPE_CHECKING:
    from app.core.state import StateDraft


class InvalidFraudProof(InvalidBlock):
    """A fraud proof the state machine refuses (the subclasses say why)."""


class MalformedFraudProof(InvalidFraudProof):
    """A fraud proof whose segment or openings do not fit its receipt (or a receipt of another chain)."""


class UnknownReceipt(InvalidFraudProof):
    """A fraud proof against a receipt whose reward this state does not hold (never included, or long settled)."""


class RewardVested(InvalidFraudProof):
    """A fraud proof that comes after the challenge window: the reward has vested."""


class DuplicateFraudProof(InvalidFraudProof):
    """A fraud proof against a reward that was already clawed back."""


def check_fraud_proof_structure(proof: FraudProof, chain_id: str, spec: TaskSpec) -> None:
    """Raise `MalformedFraudProof` unless `proof` is well formed for a receipt of task `spec` on `chain_id`.

    Pure and cheap (no re-execution): the receipt is of this chain, the task's round has segments
    (`local_steps` a multiple of `checkpoint_interval`), `segment` is one of them, and the two openings
    are leaves `segment` and `segment + 1` of `segments + 1` that prove against the receipt's
    `commitments_root`. Whether the segment really replays outside tolerance is the committee's check
    (`app.pot.fraud.check_fraud_proof`), run before it votes for a block that includes the proof.
    """
    receipt = proof.receipt
    if receipt.chain_id != chain_id:
        raise MalformedFraudProof(f"the receipt is for chain {receipt.chain_id!r}, not {chain_id!r}")
    if spec.local_steps % spec.checkpoint_interval:
        raise MalformedFraudProof("the task's rounds are not made of whole segments")
    segments = spec.local_steps // spec.checkpoint_interval
    if proof.segment >= segments:
        raise MalformedFraudProof(f"segment {proof.segment} of a round of {segments} segments")
    for name, checkpoint, opening, index in (
        ("start", proof.start_checkpoint, proof.start_proof, proof.segment),
        ("end", proof.end_checkpoint, proof.end_proof, proof.segment + 1),
    ):
        if opening.index != index or opening.leaf_count != segments + 1:
            raise MalformedFraudProof(
                f"{name} opening is for leaf {opening.index}/{opening.leaf_count}, wanted {index}/{segments + 1}"
            )
        try:
            verify_proof(receipt.commitments_root, checkpoint, opening)
        except InvalidProof as exc:
            raise MalformedFraudProof(f"{name} opening does not prove against the receipt: {exc}") from None


def apply_fraud_proofs(draft: StateDraft, proofs: Iterable[FraudProof]) -> None:
    """Claw back ALL the proven miner's pending rewards (its stake), and reset its history.

    The state checks what it can (`check_fraud_proof_structure`, the reward pending and in its
    window); the re-execution that shows the segment is wrong is each committee member's check
    before it votes (docs/PROTOCOL.md, Part 4). Every pending reward of the miner is clawed back
    (`claw_back_all`), not only the proven one: a cheat risks everything it has not yet vested.
    """
    for proof in proofs:
        receipt_id = proof.receipt_id
        task = draft.tasks.get(proof.receipt.task_id)
        reward = draft.rewards.get(receipt_id)
        if task is None or reward is None:
            raise UnknownReceipt(f"no reward held for receipt {receipt_id.hex()[:16]}")
        check_fraud_proof_structure(proof, draft.params.chain_id, task.spec)
        if reward.status == REWARD_CLAWED:
            raise DuplicateFraudProof(f"the reward of receipt {receipt_id.hex()[:16]} was already clawed back")
        if reward.status == REWARD_VESTED or reward.unlock_height < draft.block_height:
            raise RewardVested(f"the reward of receipt {receipt_id.hex()[:16]} vested at {reward.unlock_height}")
        claw_back_all(draft, reward.miner, proof.challenger)


def claw_back_all(draft: StateDraft, miner: bytes, challenger: bytes) -> None:
    """Take back every pending reward of `miner`: a bounty to `challenger`, fees to owners, the rest unminted.

    Of each reward the challenger gets `fraud_bounty_bps`, paid from its minted part first; the
    task's owner gets its fee part back (it paid for work that is now void) and what is left of
    the minted part is unminted. The miner loses this epoch's work of those rewards and its
    history (`vested` = 0), so its next rewards vest over `new_key_vesting_blocks`.
    """
    bounty = unminted = lost_work = 0
    for receipt_id, reward in sorted(draft.rewards.items()):
        if reward.miner != miner or reward.status != REWARD_PENDING:
            continue
        cut = draft.params.fraud_bounty(reward.amount)
        refund = min(reward.amount - reward.minted, reward.amount - cut)
        bounty += cut
        unminted += reward.amount - cut - refund
        if reward.epoch == draft.meta.epoch:
            lost_work += reward.minted
        acct = draft.account(miner)
        draft.set_account(miner, replace(acct, pending=acct.pending - reward.amount))
        draft.credit(draft.tasks[reward.task_id].owner, refund)  # may be the miner itself: its own fee back
        draft.set_reward(receipt_id, replace(reward, status=REWARD_CLAWED))
    acct = draft.account(miner)
    draft.set_account(miner, replace(acct, work=acct.work - min(acct.work, lost_work), vested=0))
    draft.credit(challenger, bounty)
    draft.meta = replace(draft.meta, minted=draft.meta.minted - unminted)
