"""The chain's state and its pure transitions: accounts, tasks with escrow, rewards, committees.

A `ChainState` is an immutable value; every transition returns a new one and leaves its input
untouched, so the BFT engine can try a proposal and drop the result. Internally a transition works on
a `StateDraft` (shallow copies of the maps, one per block, not one per transaction) and remembers which
keys it changed, so the state root and the stored entries are recomputed only for those keys.

Money is only ever moved, never created or destroyed, except by `ChainParams.block_reward` minting:
transaction fees go to the block's proposer and a slashed bond goes to the proposer that included the
evidence (burning either would break the invariant `balances + bonds + pending + escrows == genesis
supply + minted`, which the property tests check after every random block).

Miner rewards are paid by verified compute (FLOPs, `app.core.admission`), and one task's minted
reward is at most its released fee and `max_task_share_bps` of the block's miner issuance; the
requester's own key gets no minted share. They vest: a block credits them to the miner's `pending`,
with one `PendingReward` per receipt, and they move to the balance at the end of block `unlock_height`
(= paying height + `reward_vesting_blocks`, or `new_key_vesting_blocks` for a key that has never had a
reward vest). Until then a `FraudProof` claws back ALL the miner's pending rewards (its stake): the
challenger gets `fraud_bounty_bps` of each, each reward's fee part goes back to its task's owner and
the rest of its minted part is unminted (`ChainMeta.minted` counts net issuance), so supply is
conserved here too. Evidence is vote equivocation
(`Evidence`) or leader equivocation (`ProposalEvidence`); one offence, an offender's (height, view),
is punished at most once: the offences punished this epoch are kept in the state (`b"s"`).

State entries (`entries()`, the only interface of the SQLite store, docs/PROTOCOL.md, Part 2):
    b"a" + address(20)  -> Account        b"t" + task_id(32) -> TaskState
    b"m"                -> ChainMeta      b"c" / b"n"        -> Committee (current / next block's)
    b"s"                -> SlashedOffences (this epoch's punished offences; absent when none)
    b"r" + receipt_id(32) -> PendingReward (a miner reward in its challenge window, or settled recently)
    b"h"                -> head block hash (raw 32 bytes; NOT under the state root, see `HEAD_KEY`)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Annotated

from app.core import admission, crypto, patience, tasktext
from app.core.consensus import check_evidence, check_proposal_evidence
from app.core.encoding import Bytes20, Bytes32, MaxLen, PublicKey32, Range, Record, ShortText, Uint64, encode
from app.core.errors import (
    BadNonce,
    EncodingError,
    InsufficientFunds,
    InvalidBlock,
    InvalidProof,
    InvalidQuorumCertificate,
    InvalidReceipt,
    InvalidTransaction,
    PotError,
    StorageError,
    UnknownTask,
    WrongChain,
)
from app.core.hashing import DOMAIN_STATE_LEAF, ZERO_HASH, tagged_hash
from app.core.merkle import MerkleProof, merkle_proof, merkle_root, verify_proof
from app.core.params import ChainParams
from app.core.types import (
    AnyTransaction,
    BlockBody,
    BlockHeader,
    Bond,
    Committee,
    Evidence,
    FraudProof,
    ProposalEvidence,
    Reward,
    RoundResult,
    TaskPost,
    TaskSpec,
    Transfer,
    Unbond,
    WorkReceipt,
)

ACCOUNT_PREFIX = b"a"
TASK_PREFIX = b"t"
META_KEY = b"m"
COMMITTEE_KEY = b"c"
NEXT_COMMITTEE_KEY = b"n"
# A state cannot commit to the hash of the block whose header commits to the state, so the head
# hash is stored with the entries (the store needs it to resume) but left out of the state root.
HEAD_KEY = b"h"
SLASHED_KEY = b"s"
REWARD_PREFIX = b"r"
MAX_SLASHED_PER_EPOCH = 4096  # punished offences one epoch can record (each needs a bonded committee member)

TASK_OPEN = 0
TASK_FINISHED = 1
TASK_EXPIRED = 2

REWARD_PENDING = 0  # in its challenge window: counted in the miner's `pending`, not spendable
REWARD_VESTED = 1  # moved to the miner's balance; kept one more window so a late proof is told so
REWARD_CLAWED = 2  # taken back by a fraud proof; kept likewise so a second proof is told so


# --------------------------------------------------------------------------- errors (rules of this module)


class BondLocked(InvalidTransaction):
    """An Unbond by a member of the current or next committee: its bond must stay slashable."""


class InvalidRoundResult(InvalidBlock):
    """A RoundResult that does not close its task's current round with exactly the block's receipts."""


class InvalidEvidence(InvalidBlock):
    """Equivocation evidence that is malformed, foreign to this epoch, or against an unbonded member."""


class WrongRewards(InvalidBlock):
    """A block whose listed rewards differ from the ones the state machine computes."""


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


class UnknownAccount(PotError):
    """A proof was asked for an account that holds nothing (absent from the state)."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Account(Record):
    """An account: spendable balance, next nonce, slashable bond, work credited this epoch, and pending.

    `pending` is the sum of the account's miner rewards still in their challenge window (not
    spendable; see `PendingReward`); it sits in the account so that an `AccountProof` shows a light
    client both what it can spend and what is still vesting. `public_key` is remembered once the account signs something (a transaction or a receipt), since
    committees are lists of public keys while accounts are keyed by address.
    """

    TAG = 52
    balance: Uint64
    nonce: Uint64
    bond: Uint64
    work: Uint64
    public_key: PublicKey32 | None
    pending: Uint64 = 0
    # Grains of miner rewards that ever vested to this key: 0 is a key without history, whose rewards
    # vest over `new_key_vesting_blocks`; a fraud proof resets it to 0.
    vested: Uint64 = 0

    def is_empty(self) -> bool:
        """An empty account is absent from the state: one representation of "nothing here"."""
        return not (self.balance or self.nonce or self.bond or self.work or self.pending or self.vested)


EMPTY_ACCOUNT = Account(balance=0, nonce=0, bond=0, work=0, public_key=None)


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


@dataclass(frozen=True)
class ChainMeta(Record):
    """Chain-wide counters: the head's height, epoch and time, and the supply bookkeeping."""

    TAG = 54
    chain_id: ShortText
    height: Uint64
    epoch: Uint64
    timestamp_ms: Uint64
    genesis_supply: Uint64
    minted: Uint64


@dataclass(frozen=True)
class AccountProof(Record):
    """An account's encoded value and its Merkle inclusion proof against a state root."""

    TAG = 57
    address: Bytes20
    value: Annotated[bytes, MaxLen(256)]
    proof: MerkleProof

    def verify(self, state_root: bytes) -> Account:
        """Return the proven account, or raise `InvalidProof`."""
        verify_account_proof(state_root, self.address, self.value, self.proof)
        try:
            return Account.decode(self.value)
        except EncodingError as exc:
            raise InvalidProof(f"proven value is not an account: {exc}") from None


@dataclass(frozen=True)
class Offence(Record):
    """One punished equivocation: the offender's address and the (height, view) in which it signed twice."""

    TAG = 58
    offender: Bytes20
    height: Uint64
    view: Uint64


@dataclass(frozen=True)
class SlashedOffences(Record):
    """The offences punished in the current epoch, sorted and distinct (absent from the state if none).

    Evidence can only be included in the epoch of its height, so the set is cleared at each epoch's
    end; while it lasts, the same offence (by another pair of messages, by vote and proposal evidence,
    or after the offender bonds again) cannot be punished twice.
    """

    TAG = 59
    offences: Annotated[tuple[Offence, ...], MaxLen(MAX_SLASHED_PER_EPOCH)]


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


OffenceKey = tuple[bytes, int, int]  # (offender address, height, view)


def account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address


def reward_key(receipt_id: bytes) -> bytes:
    return REWARD_PREFIX + receipt_id


def task_key(task_id: bytes) -> bytes:
    return TASK_PREFIX + task_id


def state_leaf(key: bytes, value: bytes) -> bytes:
    """The Merkle leaf of one state entry; binding the key stops a proof of one account posing as another's."""
    return tagged_hash(DOMAIN_STATE_LEAF, encode([key, value]))


def verify_account_proof(state_root: bytes, address: bytes, value: bytes, proof: MerkleProof) -> None:
    """Raise `InvalidProof` unless `value` is the entry of `address` under `state_root` (pure, light-client side)."""
    if len(address) != crypto.ADDRESS_LEN:
        raise InvalidProof("an address is 20 bytes")
    verify_proof(state_root, state_leaf(account_key(address), value), proof)


# --------------------------------------------------------------------------- pure rules


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


def elect_committee(
    params: ChainParams, accounts: Mapping[bytes, Account], current: Committee, epoch: int
) -> Committee:
    """The committee for `epoch`: the most work this epoch among accounts bonded >= min_bond.

    Ties break by address. Seats left over go to current members still bonded >= min_bond (by
    address); if nobody at all qualifies the current members stay, since an empty committee would
    halt the chain for good. Members are sorted by address.
    """
    bonded = [
        (-acct.work, address, acct.public_key)
        for address, acct in accounts.items()
        if acct.work > 0 and acct.bond >= params.min_bond and acct.public_key is not None
    ]
    bonded.sort()
    chosen = [key for _, _, key in bonded[: params.committee_size]]
    for member in sorted(current.members, key=crypto.key_hash):
        if len(chosen) >= params.committee_size:
            break
        acct = accounts.get(crypto.key_hash(member), EMPTY_ACCOUNT)
        if member not in chosen and acct.bond >= params.min_bond:
            chosen.append(member)
    if not chosen:
        chosen = list(current.members)
    return Committee(epoch=epoch, members=tuple(sorted(chosen, key=crypto.key_hash)))


# --------------------------------------------------------------------------- the state


@dataclass(frozen=True, eq=False)
class ChainState:
    """The state after the block `head_hash` (at `meta.height`), with cached encodings and leaves."""

    params: ChainParams
    meta: ChainMeta
    committee: Committee
    next_committee: Committee
    head_hash: bytes
    _accounts: Mapping[bytes, Account] = field(repr=False)
    _tasks: Mapping[bytes, TaskState] = field(repr=False)
    _values: Mapping[bytes, bytes] = field(repr=False)  # committed key -> encoded value
    _leaves: Mapping[bytes, bytes] = field(repr=False)  # committed key -> state_leaf digest
    slashed: frozenset[OffenceKey] = field(default=frozenset(), repr=False)  # offences punished this epoch
    _rewards: Mapping[bytes, PendingReward] = field(default_factory=dict, repr=False)  # receipt id -> reward

    # ---- construction

    @classmethod
    def create(
        cls,
        params: ChainParams,
        meta: ChainMeta,
        committee: Committee,
        next_committee: Committee,
        accounts: Mapping[bytes, Account],
        tasks: Mapping[bytes, TaskState],
        head_hash: bytes,
        slashed: Iterable[OffenceKey] = (),
        rewards: Mapping[bytes, PendingReward] | None = None,
    ) -> "ChainState":
        """Build a state from its parts, encoding every entry (genesis and loading only)."""
        draft = StateDraft.empty(params, meta, committee, next_committee, head_hash)
        for address, acct in accounts.items():
            draft.set_account(address, acct)
        for task_id, task in tasks.items():
            draft.set_task(task_id, task)
        for receipt_id, reward in (rewards or {}).items():
            draft.set_reward(receipt_id, reward)
        draft.slashed = set(slashed)
        return draft.freeze()

    @classmethod
    def from_entries(cls, params: ChainParams, entries: Mapping[bytes, bytes]) -> "ChainState":
        """Rebuild the state from `entries()`; raise `StorageError` on anything missing or malformed."""
        try:
            return _from_entries(params, entries)
        except StorageError:
            raise
        except (EncodingError, ValueError, TypeError) as exc:
            raise StorageError(f"malformed state entry: {exc}") from None

    def with_head(self, head_hash: bytes) -> "ChainState":
        """The same state, recorded as the result of the block `head_hash`."""
        if len(head_hash) != 32:
            raise ValueError("a block hash is 32 bytes")
        return replace(self, head_hash=head_hash)

    # ---- reading

    @property
    def height(self) -> int:
        return self.meta.height

    @property
    def epoch(self) -> int:
        return self.meta.epoch

    @property
    def timestamp_ms(self) -> int:
        return self.meta.timestamp_ms

    @property
    def chain_id(self) -> str:
        return self.params.chain_id

    def account(self, address: bytes) -> Account:
        return self._accounts.get(address, EMPTY_ACCOUNT)

    def accounts(self) -> Mapping[bytes, Account]:
        return self._accounts

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

    def total_held(self) -> int:
        """Balances + bonds + pending rewards + escrows; equals genesis supply + minted in every valid state."""
        held = sum(a.balance + a.bond + a.pending for a in self._accounts.values())
        return held + sum(t.escrow for t in self._tasks.values())

    # ---- commitments

    @cached_property
    def _sorted_keys(self) -> list[bytes]:
        return sorted(self._leaves)

    @cached_property
    def state_root(self) -> bytes:
        """Merkle root over the state leaves of all committed entries, sorted by key."""
        return merkle_root([self._leaves[k] for k in self._sorted_keys])

    def entries(self) -> dict[bytes, bytes]:
        """Canonical key -> canonical value of every entry, head hash included (for the store)."""
        out = dict(self._values)
        out[HEAD_KEY] = self.head_hash
        return out

    def prove_account(self, address: bytes) -> AccountProof:
        """The account's value with its inclusion proof against `state_root`."""
        key = account_key(address)
        if key not in self._values:
            raise UnknownAccount(f"account {address.hex()} holds nothing")
        keys = self._sorted_keys
        index = bisect.bisect_left(keys, key)
        proof = merkle_proof([self._leaves[k] for k in keys], index)
        return AccountProof(address=address, value=self._values[key], proof=proof)

    # ---- transitions

    def apply_tx(self, tx: AnyTransaction, proposer: bytes) -> "ChainState":
        """Apply one transaction as part of the next block, fees to the `proposer` address."""
        draft = StateDraft(self)
        draft.apply_tx(tx, proposer)
        return draft.freeze()

    def apply_body(self, header: BlockHeader, body: BlockBody) -> "ChainState":
        """Apply a block's body (no header checks: app.core.validation does those)."""
        draft = StateDraft(self)
        draft.begin_block(header)
        draft.apply_evidence(body.evidence, crypto.key_hash(header.proposer))
        draft.apply_fraud_proofs(body.fraud_proofs)
        rewards = draft.apply_rounds(body.receipts, body.results, header.proposer)
        if rewards != body.rewards:
            raise WrongRewards(
                f"block lists {len(body.rewards)} rewards, the state computes {len(rewards)} different ones"
            )
        proposer = crypto.key_hash(header.proposer)
        for tx in body.transactions:
            draft.apply_tx(tx, proposer)
        draft.end_block()
        return draft.freeze(head_hash=header.block_hash)


# --------------------------------------------------------------------------- the working copy


class StateDraft:
    """The mutable working copy one block is applied or built on (app.core.builder uses it too).

    Every method checks everything before it changes anything, so a rejected item leaves the draft
    as it was and a block builder can skip it and go on.
    """

    def __init__(self, state: ChainState) -> None:
        self.params = state.params
        self.meta = state.meta
        self.committee = state.committee
        self.next_committee = state.next_committee
        self.head_hash = state.head_hash
        self.accounts = dict(state._accounts)
        self.tasks = dict(state._tasks)
        self.rewards = dict(state._rewards)
        self._values = state._values
        self._leaves = state._leaves
        self._dirty: set[bytes] = set()
        self.slashed: set[OffenceKey] = set(state.slashed)
        self.block_height = state.meta.height + 1

    @classmethod
    def empty(
        cls, params: ChainParams, meta: ChainMeta, committee: Committee, next_committee: Committee, head: bytes
    ) -> "StateDraft":
        base = ChainState(params, meta, committee, next_committee, head, {}, {}, {}, {})
        draft = cls(base)
        draft.block_height = meta.height
        return draft

    # ---- accounts and tasks

    def account(self, address: bytes) -> Account:
        return self.accounts.get(address, EMPTY_ACCOUNT)

    def set_account(self, address: bytes, acct: Account) -> None:
        if acct.is_empty():
            self.accounts.pop(address, None)
        else:
            self.accounts[address] = acct
        self._dirty.add(account_key(address))

    def credit(self, address: bytes, amount: int) -> None:
        if amount:
            acct = self.account(address)
            self.set_account(address, replace(acct, balance=acct.balance + amount))

    def set_task(self, task_id: bytes, task: TaskState) -> None:
        self.tasks[task_id] = task
        self._dirty.add(task_key(task_id))

    def set_reward(self, receipt_id: bytes, reward: PendingReward | None) -> None:
        if reward is None:
            self.rewards.pop(receipt_id, None)
        else:
            self.rewards[receipt_id] = reward
        self._dirty.add(reward_key(receipt_id))

    # ---- transactions

    def apply_tx(self, tx: AnyTransaction, proposer: bytes) -> None:
        if tx.chain_id != self.params.chain_id:
            raise WrongChain(f"transaction for chain {tx.chain_id!r}, not {self.params.chain_id!r}")
        tx.verify_signature()
        sender = tx.sender_address
        acct = self.account(sender)
        if tx.nonce != acct.nonce:
            raise BadNonce(f"nonce {tx.nonce}, the sender's next nonce is {acct.nonce}")
        acct = replace(acct, nonce=acct.nonce + 1, public_key=tx.sender)
        if isinstance(tx, Transfer):
            _require_funds(acct.balance, tx.amount + tx.fee, "transfer")
            self.set_account(sender, replace(acct, balance=acct.balance - tx.amount - tx.fee))
            self.credit(tx.recipient, tx.amount)
        elif isinstance(tx, TaskPost):
            admission.check_task_post(tx.spec, tx.fee_per_round, self.params.min_fee_per_gflop)
            patience.check_patience(tx.spec)
            tasktext.check_task_text(tx.spec)
            escrow = tx.fee_per_round * tx.spec.rounds
            _require_funds(acct.balance, escrow + tx.fee, "task escrow")
            task_id = tx.tx_id
            if task_id in self.tasks:
                raise InvalidTransaction(f"task {task_id.hex()[:16]} already exists")
            self.set_account(sender, replace(acct, balance=acct.balance - escrow - tx.fee))
            self.set_task(task_id, _new_task(tx, sender, escrow, self.block_height))
        elif isinstance(tx, Bond):
            if tx.amount == 0:
                raise InvalidTransaction("a bond of zero grains")
            _require_funds(acct.balance, tx.amount + tx.fee, "bond")
            self.set_account(
                sender, replace(acct, balance=acct.balance - tx.amount - tx.fee, bond=acct.bond + tx.amount)
            )
        elif isinstance(tx, Unbond):
            if tx.amount == 0:
                raise InvalidTransaction("an unbond of zero grains")
            if tx.sender in self.committee.members or tx.sender in self.next_committee.members:
                raise BondLocked("a committee member cannot unbond until it leaves the committee")
            _require_funds(acct.bond, tx.amount, "unbond")
            _require_funds(acct.balance + tx.amount, tx.fee, "unbond fee")
            self.set_account(
                sender, replace(acct, balance=acct.balance + tx.amount - tx.fee, bond=acct.bond - tx.amount)
            )
        else:  # the type union is closed; a new transaction type must be handled here
            raise InvalidTransaction(f"unknown transaction type {type(tx).__name__}")
        self.credit(proposer, tx.fee)

    # ---- blocks

    def begin_block(self, header: BlockHeader) -> None:
        """Advance the counters, hand over the committee, and fill the anchors of rounds the parent opened."""
        self.block_height = header.height
        self.meta = replace(
            self.meta, height=header.height, epoch=self.params.epoch_of(header.height), timestamp_ms=header.timestamp_ms
        )
        self.committee = self.next_committee
        for task_id, task in list(self.tasks.items()):
            if task.status == TASK_OPEN and task.anchor == ZERO_HASH:
                self.set_task(task_id, replace(task, anchor=header.prev_hash))

    def apply_evidence(self, evidence: Iterable[Evidence | ProposalEvidence], proposer: bytes) -> None:
        """Slash each equivocator's whole bond to the proposer that included the evidence (a bounty).

        Vote evidence names a member that signed two votes in one slot, proposal evidence the leader
        that signed two proposals in one view; either way one offence, the offender's (height, view),
        is punished at most once.
        """
        for ev in evidence:
            try:
                if isinstance(ev, ProposalEvidence):
                    offender = check_proposal_evidence(ev, self.committee, self.params.chain_id)
                    height, view = ev.height, ev.view
                elif isinstance(ev, Evidence):
                    offender = check_evidence(ev, self.committee, self.params.chain_id)
                    height, view = ev.vote_a.height, ev.vote_a.view
                else:  # the type union is closed; a new evidence type must be handled here
                    raise InvalidEvidence(f"unknown evidence type {type(ev).__name__}")
            except InvalidQuorumCertificate as exc:
                raise InvalidEvidence(str(exc)) from None
            if self.params.epoch_of(height) != self.meta.epoch or height > self.block_height:
                raise InvalidEvidence(f"evidence at height {height} is not from this epoch's past")
            address = crypto.key_hash(offender)
            offence = (address, height, view)
            if offence in self.slashed:
                raise InvalidEvidence(f"the offence at {height}/{view} was already punished")
            if len(self.slashed) >= MAX_SLASHED_PER_EPOCH:
                raise InvalidEvidence("this epoch has punished as many offences as the state records")
            acct = self.account(address)
            if acct.bond == 0:
                raise InvalidEvidence("the equivocator has no bond left (already slashed)")
            self.set_account(address, replace(acct, bond=0))
            self.credit(proposer, acct.bond)
            self.slashed.add(offence)

    def apply_rounds(
        self, receipts: Sequence[WorkReceipt], results: Sequence[RoundResult], proposer_key: bytes
    ) -> tuple[Reward, ...]:
        """Check receipts and results, close the rounds, pay and credit work; return the rewards."""
        closing = self.check_rounds(receipts, results)
        rounds = [
            ClosedRound(
                r.task_id,
                t.fee_per_round,
                t.owner,
                tuple((crypto.key_hash(x.miner), admission.compute_per_step(t.spec) * x.steps) for x in g),
            )
            for r, t, g in closing
        ]
        rewards = compute_rewards(self.params, self.block_height, self.committee, proposer_key, rounds)
        for result, task, group in closing:
            self._close_round(result, task, group)
        for reward in rewards:
            if reward.kind != Reward.KIND_MINER:
                self.credit(reward.recipient, reward.amount)
        if rounds:
            block_reward = self.params.block_reward(self.block_height)
            mints = task_mints(self.params, block_reward - self.params.validator_share(block_reward), rounds)
            for rnd, mint, (_, _, group) in zip(rounds, mints, closing):
                for receipt, (_, fee_share, mint_share) in zip(group, split_round(rnd, mint)):
                    self._hold_reward(receipt, fee_share + mint_share, mint_share)
            minted = sum(r.amount for r in rewards) - sum(rnd.fee for rnd in rounds)
            self.meta = replace(self.meta, minted=self.meta.minted + minted)
        return rewards

    def check_rounds(
        self, receipts: Sequence[WorkReceipt], results: Sequence[RoundResult]
    ) -> list[tuple[RoundResult, TaskState, list[WorkReceipt]]]:
        """Raise unless every receipt is valid and claimed, in order, by the result closing its round."""
        groups = self._check_receipts(receipts)
        closing: list[tuple[RoundResult, TaskState, list[WorkReceipt]]] = []
        for result in results:
            task = self._open_task(result.task_id)
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

    def _hold_reward(self, receipt: WorkReceipt, amount: int, minted: int) -> None:
        """Put one receipt's miner reward in the miner's `pending` until its challenge window ends.

        The receipt's minted share is also its work for committee election: verified compute, priced
        by the fee floor and capped like minting, so a cheap task buys no seats.
        """
        address = crypto.key_hash(receipt.miner)
        acct = self.account(address)
        vesting = self.params.vesting_blocks(has_history=acct.vested > 0)
        self.set_account(address, replace(acct, pending=acct.pending + amount, work=acct.work + minted))
        reward = PendingReward(
            miner=address,
            task_id=receipt.task_id,
            amount=amount,
            steps=receipt.steps,
            epoch=self.meta.epoch,
            unlock_height=self.block_height + vesting,
            status=REWARD_PENDING,
            minted=minted,
        )
        self.set_reward(receipt.receipt_id, reward)

    def apply_fraud_proofs(self, proofs: Iterable[FraudProof]) -> None:
        """Claw back ALL the proven miner's pending rewards (its stake), and reset its history.

        The state checks what it can (`check_fraud_proof_structure`, the reward pending and in its
        window); the re-execution that shows the segment is wrong is each committee member's check
        before it votes (docs/PROTOCOL.md, Part 4). Every pending reward of the miner is clawed back
        (`claw_back_all`), not only the proven one: a cheat risks everything it has not yet vested.
        """
        for proof in proofs:
            receipt_id = proof.receipt_id
            task = self.tasks.get(proof.receipt.task_id)
            reward = self.rewards.get(receipt_id)
            if task is None or reward is None:
                raise UnknownReceipt(f"no reward held for receipt {receipt_id.hex()[:16]}")
            check_fraud_proof_structure(proof, self.params.chain_id, task.spec)
            if reward.status == REWARD_CLAWED:
                raise DuplicateFraudProof(f"the reward of receipt {receipt_id.hex()[:16]} was already clawed back")
            if reward.status == REWARD_VESTED or reward.unlock_height < self.block_height:
                raise RewardVested(f"the reward of receipt {receipt_id.hex()[:16]} vested at {reward.unlock_height}")
            self.claw_back_all(reward.miner, proof.challenger)

    def claw_back_all(self, miner: bytes, challenger: bytes) -> None:
        """Take back every pending reward of `miner`: a bounty to `challenger`, fees to owners, the rest unminted.

        Of each reward the challenger gets `fraud_bounty_bps`, paid from its minted part first; the
        task's owner gets its fee part back (it paid for work that is now void) and what is left of
        the minted part is unminted. The miner loses this epoch's work of those rewards and its
        history (`vested` = 0), so its next rewards vest over `new_key_vesting_blocks`.
        """
        bounty = unminted = lost_work = 0
        for receipt_id, reward in sorted(self.rewards.items()):
            if reward.miner != miner or reward.status != REWARD_PENDING:
                continue
            cut = self.params.fraud_bounty(reward.amount)
            refund = min(reward.amount - reward.minted, reward.amount - cut)
            bounty += cut
            unminted += reward.amount - cut - refund
            if reward.epoch == self.meta.epoch:
                lost_work += reward.minted
            acct = self.account(miner)
            self.set_account(miner, replace(acct, pending=acct.pending - reward.amount))
            self.credit(self.tasks[reward.task_id].owner, refund)  # may be the miner itself: its own fee back
            self.set_reward(receipt_id, replace(reward, status=REWARD_CLAWED))
        acct = self.account(miner)
        self.set_account(miner, replace(acct, work=acct.work - min(acct.work, lost_work), vested=0))
        self.credit(challenger, bounty)
        self.meta = replace(self.meta, minted=self.meta.minted - unminted)

    def vest_rewards(self) -> None:
        """Move the rewards whose window ends with this block to their miners' balances; drop old settled ones."""
        for receipt_id, reward in list(self.rewards.items()):
            if reward.status == REWARD_PENDING and reward.unlock_height <= self.block_height:
                acct = self.account(reward.miner)
                self.set_account(
                    reward.miner,
                    replace(
                        acct,
                        balance=acct.balance + reward.amount,
                        pending=acct.pending - reward.amount,
                        vested=acct.vested + reward.amount,
                    ),
                )
                reward = replace(reward, status=REWARD_VESTED)
                self.set_reward(receipt_id, reward)
            if (
                reward.status != REWARD_PENDING
                and reward.unlock_height + self.params.reward_vesting_blocks <= self.block_height
            ):
                self.set_reward(receipt_id, None)

    def _open_task(self, task_id: bytes) -> TaskState:
        task = self.tasks.get(task_id)
        if task is None:
            raise UnknownTask(f"no task {task_id.hex()[:16]}")
        if task.status != TASK_OPEN:
            raise UnknownTask(f"task {task_id.hex()[:16]} is no longer open")
        return task

    def _check_receipts(self, receipts: Sequence[WorkReceipt]) -> dict[bytes, list[tuple[bytes, WorkReceipt]]]:
        groups: dict[bytes, list[tuple[bytes, WorkReceipt]]] = {}
        seen: set[tuple[bytes, bytes]] = set()
        for receipt in receipts:
            if receipt.chain_id != self.params.chain_id:
                raise WrongChain(f"receipt for chain {receipt.chain_id!r}")
            task = self._open_task(receipt.task_id)
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

    def _close_round(self, result: RoundResult, task: TaskState, receipts: list[WorkReceipt]) -> None:
        for receipt in receipts:
            address = crypto.key_hash(receipt.miner)
            self.set_account(address, replace(self.account(address), public_key=receipt.miner))
        next_round = task.round + 1
        progress = patience.next_progress(
            task.spec, task.best_loss_micro, task.stale_rounds, result.validation_loss_micro
        )
        task = replace(
            task,
            escrow=task.escrow - task.fee_per_round,
            round=next_round,
            checkpoint=result.new_checkpoint,
            anchor=ZERO_HASH,
            round_opened=self.block_height,
            last_loss_micro=result.validation_loss_micro,
            best_loss_micro=progress.best_loss_micro,
            stale_rounds=progress.stale_rounds,
        )
        if next_round >= task.spec.rounds or progress.exhausted:  # the unspent escrow goes back to the owner
            self.credit(task.owner, task.escrow)
            task = replace(task, escrow=0, status=TASK_FINISHED)
        self.set_task(result.task_id, task)

    def end_block(self) -> None:
        """Vest rewards, expire stalled tasks, then at an epoch's end elect the next committee and reset work."""
        self.vest_rewards()
        for task_id, task in list(self.tasks.items()):
            if task.status == TASK_OPEN and self.block_height - task.round_opened >= self.params.task_expiry_blocks:
                self.credit(task.owner, task.escrow)
                self.set_task(task_id, replace(task, escrow=0, status=TASK_EXPIRED))
        if not self.params.is_epoch_end(self.block_height):
            self.next_committee = self.committee
            return
        epoch = self.params.epoch_of(self.block_height) + 1
        self.next_committee = elect_committee(self.params, self.accounts, self.committee, epoch)
        self.slashed = set()  # evidence of this epoch cannot be included in the next one
        for address, acct in list(self.accounts.items()):
            if acct.work:
                self.set_account(address, replace(acct, work=0))

    # ---- freezing

    def freeze(self, head_hash: bytes | None = None) -> ChainState:
        values = dict(self._values)
        leaves = dict(self._leaves)
        fixed = {META_KEY: self.meta, COMMITTEE_KEY: self.committee, NEXT_COMMITTEE_KEY: self.next_committee}
        changed: dict[bytes, Record | None] = dict(fixed)
        changed[SLASHED_KEY] = (
            SlashedOffences(tuple(Offence(*key) for key in sorted(self.slashed))) if self.slashed else None
        )
        for key in self._dirty:
            if key[:1] == ACCOUNT_PREFIX:
                changed[key] = self.accounts.get(key[1:])
            elif key[:1] == REWARD_PREFIX:
                changed[key] = self.rewards.get(key[1:])
            else:
                changed[key] = self.tasks.get(key[1:])
        for key, record in changed.items():
            if record is None:
                values.pop(key, None)
                leaves.pop(key, None)
            else:
                value = record.encode()
                if values.get(key) != value:
                    values[key] = value
                    leaves[key] = state_leaf(key, value)
        return ChainState(
            params=self.params,
            meta=self.meta,
            committee=self.committee,
            next_committee=self.next_committee,
            head_hash=self.head_hash if head_hash is None else head_hash,
            _accounts=self.accounts,
            _tasks=self.tasks,
            _values=values,
            _leaves=leaves,
            slashed=frozenset(self.slashed),
            _rewards=self.rewards,
        )


def _require_funds(available: int, needed: int, what: str) -> None:
    if needed > available:
        raise InsufficientFunds(f"{what} needs {needed} grains, {available} available")


def _new_task(tx: TaskPost, owner: bytes, escrow: int, height: int) -> TaskState:
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


def _from_entries(params: ChainParams, entries: Mapping[bytes, bytes]) -> ChainState:
    accounts: dict[bytes, Account] = {}
    tasks: dict[bytes, TaskState] = {}
    rewards: dict[bytes, PendingReward] = {}
    singles: dict[bytes, bytes] = {}
    for key, value in entries.items():
        prefix, rest = key[:1], key[1:]
        if prefix == ACCOUNT_PREFIX and len(rest) == crypto.ADDRESS_LEN:
            acct = Account.decode(value)
            if acct.is_empty():
                raise StorageError(f"empty account {rest.hex()} stored (empty accounts are absent)")
            accounts[rest] = acct
        elif prefix == TASK_PREFIX and len(rest) == 32:
            tasks[rest] = TaskState.decode(value)
        elif prefix == REWARD_PREFIX and len(rest) == 32:
            rewards[rest] = PendingReward.decode(value)
        elif key in (META_KEY, COMMITTEE_KEY, NEXT_COMMITTEE_KEY, HEAD_KEY, SLASHED_KEY):
            singles[key] = value
        else:
            raise StorageError(f"unknown state key {key.hex()}")
    missing = {META_KEY, COMMITTEE_KEY, NEXT_COMMITTEE_KEY, HEAD_KEY} - singles.keys()
    if missing:
        raise StorageError(f"state lacks the entries {sorted(k.decode() for k in missing)}")
    meta = ChainMeta.decode(singles[META_KEY])
    if meta.chain_id != params.chain_id:
        raise StorageError(f"state of chain {meta.chain_id!r}, not {params.chain_id!r}")
    head = singles[HEAD_KEY]
    if len(head) != 32:
        raise StorageError("head hash is not 32 bytes")
    committee = Committee.decode(singles[COMMITTEE_KEY])
    next_committee = Committee.decode(singles[NEXT_COMMITTEE_KEY])
    if not committee.members or not next_committee.members:
        raise StorageError("a stored committee is empty (no block could ever be signed)")
    slashed: list[OffenceKey] = []
    if SLASHED_KEY in singles:
        offences = SlashedOffences.decode(singles[SLASHED_KEY]).offences
        slashed = [(o.offender, o.height, o.view) for o in offences]
        if not slashed or slashed != sorted(set(slashed)):
            raise StorageError("stored slashed offences are empty, unsorted or repeated")
    pending: dict[bytes, int] = {}
    for reward in rewards.values():
        if reward.status == REWARD_PENDING:
            pending[reward.miner] = pending.get(reward.miner, 0) + reward.amount
    for address in pending.keys() | {a for a, acct in accounts.items() if acct.pending}:
        if accounts.get(address, EMPTY_ACCOUNT).pending != pending.get(address, 0):
            raise StorageError(f"account {address.hex()}'s pending differs from its pending rewards")
    return ChainState.create(params, meta, committee, next_committee, accounts, tasks, head, slashed, rewards)
