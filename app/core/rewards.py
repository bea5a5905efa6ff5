"""Rewards and vesting: the block's reward split, and each miner reward's challenge window.

Miner rewards are paid by verified compute (FLOPs, `app.core.admission`), and one task's minted
reward is at most its released fee and `max_task_share_bps` of the block's miner issuance; the
requester's own key gets no minted share. They vest: a block credits them to the miner's `pending`,
with one `PendingReward` per receipt, and they move to the balance at the end of block `unlock_height`
(= paying height + `reward_vesting_blocks`, or `new_key_vesting_blocks` for a key that has never had a
reward vest). Until then a fraud proof can claw them back (app/core/fraud.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated

from app.core import admission, crypto
from app.core.encoding import Bytes20, Bytes32, Range, Record, Uint64
from app.core.errors import InvalidBlock
from app.core.hashing import ZERO_HASH
from app.core.params import ChainParams
from app.core.types import Committee, Reward, WorkReceipt

if TYPE_CHECKING:
    from app.core.state import StateDraft

REWARD_PREFIX = b"r"

REWARD_PENDING = 0  # in its challenge window: counted in the miner's `pending`, not spendable
REWARD_VESTED = 1  # moved to the miner's balance; kept one more window so a late proof is told so
REWARD_CLAWED = 2  # taken back by a fraud proof; kept likewise so a second proof is told so


class WrongRewards(InvalidBlock):
    """A block whose listed rewards differ from the ones the state machine computes."""


@dataclass(frozen=True)
class PendingReward(Record):
    """One included receipt's miner reward: pending until the end of block `unlock_height`.

    `minted` is the part of `amount` that the block minted (the rest is the task's fee); it is also
    the work the receipt credited for committee election. `epoch` is the epoch that paid it (a
    claw-back removes that work only while the epoch lasts; afterwards it has already been spent on an
    election). Settled
    rewards (vested or clawed back) stay until `unlock_height + reward_vesting_blocks`, so that a late
    or repeated fraud proof gets a precise error, and are then dropped.
    """

    TAG = 60
    miner: Bytes20
    task_id: Bytes32
    amount: Uint64
    steps: Uint64
    epoch: Uint64
    unlock_height: Uint64
    status: Annotated[int, Range(REWARD_PENDING, REWARD_CLAWED)]
    minted: Uint64 = 0


def reward_key(receipt_id: bytes) -> bytes:
    return REWARD_PREFIX + receipt_id


@dataclass(frozen=True)
class ClosedRound:
    """What the reward split needs of one closed round: its task, owner, released fee and miners' compute."""

    task_id: bytes
    fee: int
    owner: bytes
    work: tuple[tuple[bytes, int], ...]  # (miner address, verified FLOPs), in block order


def task_mints(params: ChainParams, miner_pool: int, rounds: Sequence[ClosedRound]) -> list[int]:
    """Each closed round's minted reward: its compute share of `miner_pool`, at most its fee, the task
    share cap, and the fee floor's rate (`min_fee_per_gflop`) times the round's verified FLOPs.

    Minting never pays more per FLOP than the fee floor, and never more than the fee: a requester that
    mines its own task with other keys gets its own fee back plus at most the floor rate per FLOP,
    while an outside miner of a task paying at least the floor per FLOP earns that fee and the mint,
    so at least twice as much (docs/PROTOCOL.md, "Rewards"). What the caps hold back is never minted.
    """
    total = sum(flops for rnd in rounds for _, flops in rnd.work)
    cap = params.task_share_cap(miner_pool)
    out = []
    for rnd in rounds:
        flops = sum(f for _, f in rnd.work)
        share = miner_pool * flops // total if total else 0
        out.append(min(share, rnd.fee, cap, flops * params.min_fee_per_gflop // admission.FLOPS_PER_GFLOP))
    return out


def split_round(rnd: ClosedRound, mint: int) -> list[tuple[bytes, int, int]]:
    """(miner, fee share, minted share) of each receipt of a round, by verified compute; no mint to the owner."""
    round_flops = sum(flops for _, flops in rnd.work)
    if not round_flops:
        return [(miner, 0, 0) for miner, _ in rnd.work]
    return [
        (miner, rnd.fee * flops // round_flops, 0 if miner == rnd.owner else mint * flops // round_flops)
        for miner, flops in rnd.work
    ]


def compute_rewards(
    params: ChainParams,
    height: int,
    committee: Committee,
    proposer: bytes,
    rounds: Sequence[ClosedRound],
) -> tuple[Reward, ...]:
    """The rewards of a block: minted reward plus released fees, every grain accounted for.

    Minting happens only in a block that closes a round. Validators get `validator_share_bps` of the
    block reward in equal parts. Each round's fee goes to its miners in proportion to their verified
    compute; its minted reward (`task_mints`) likewise, except that the task owner's own key gets no
    minted share (left unminted). Rounding remainders go to the proposer's validator entry. Sorted by
    (kind, task_id, recipient); zero amounts are left out. The block mints what it pays beyond fees.
    """
    if not rounds:
        return ()
    block_reward = params.block_reward(height)
    validator_pool = params.validator_share(block_reward)
    mints = task_mints(params, block_reward - validator_pool, rounds)
    amounts: dict[tuple[str, bytes, bytes], int] = {}
    due = validator_pool

    def pay(kind: str, task_id: bytes, recipient: bytes, amount: int) -> None:
        key = (kind, task_id, recipient)
        amounts[key] = amounts.get(key, 0) + amount

    for rnd, mint in zip(rounds, mints):
        round_flops = sum(flops for _, flops in rnd.work)
        owner_flops = sum(flops for miner, flops in rnd.work if miner == rnd.owner)
        due += rnd.fee + (mint - mint * owner_flops // round_flops if round_flops else 0)
        for miner, fee_share, mint_share in split_round(rnd, mint):
            pay(Reward.KIND_MINER, rnd.task_id, miner, fee_share + mint_share)
    members = committee.members
    for member in members:
        pay(Reward.KIND_VALIDATOR, ZERO_HASH, crypto.key_hash(member), validator_pool // len(members))
    paid = sum(amounts.values())
    pay(Reward.KIND_VALIDATOR, ZERO_HASH, crypto.key_hash(proposer), due - paid)
    return tuple(
        Reward(recipient=recipient, amount=amount, kind=kind, task_id=task_id)
        for (kind, task_id, recipient), amount in sorted(amounts.items())
        if amount > 0
    )


def hold_reward(draft: StateDraft, receipt: WorkReceipt, amount: int, minted: int) -> None:
    """Put one receipt's miner reward in the miner's `pending` until its challenge window ends.

    The receipt's minted share is also its work for committee election: verified compute, priced
    by the fee floor and capped like minting, so a cheap task buys no seats.
    """
    address = crypto.key_hash(receipt.miner)
    acct = draft.account(address)
    vesting = draft.params.vesting_blocks(has_history=acct.vested > 0)
    draft.set_account(address, replace(acct, pending=acct.pending + amount, work=acct.work + minted))
    reward = PendingReward(
        miner=address,
        task_id=receipt.task_id,
        amount=amount,
        steps=receipt.steps,
        epoch=draft.meta.epoch,
        unlock_height=draft.block_height + vesting,
        status=REWARD_PENDING,
        minted=minted,
    )
    draft.set_reward(receipt.receipt_id, reward)


def vest_rewards(draft: StateDraft) -> None:
    """Move the rewards whose window ends with this block to their miners' balances; drop old settled ones."""
    for receipt_id, reward in list(draft.rewards.items()):
        if reward.status == REWARD_PENDING and reward.unlock_height <= draft.block_height:
            acct = draft.account(reward.miner)
            draft.set_account(
                reward.miner,
                replace(
                    acct,
                    balance=acct.balance + reward.amount,
                    pending=acct.pending - reward.amount,
                    vested=acct.vested + reward.amount,
                ),
            )
            reward = replace(reward, status=REWARD_VESTED)
            draft.set_reward(receipt_id, reward)
        if (
            reward.status != REWARD_PENDING
            and reward.unlock_height + draft.params.reward_vesting_blocks <= draft.block_height
        ):
            draft.set_reward(receipt_id, None)
