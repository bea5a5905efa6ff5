"""The chain's state and its pure transitions: accounts, tasks with escrow, rewards, committees.

A `ChainState` is an immutable value; every transition returns a new one and leaves its input
untouched, so the BFT engine can try a proposal and drop the result. Internally a transition works on
a `StateDraft` (shallow copies of the maps, one per block, not one per transaction) and remembers which
keys it changed, so the state root and the stored entries are recomputed only for those keys.

Money is only ever moved, never created or destroyed, except by `ChainParams.block_reward` minting:
transaction fees go to the block's proposer and a slashed bond goes to the proposer that included the
evidence (burning either would break the invariant `balances + bonds + pending + escrows == genesis
supply + minted`, which the property tests check after every random block).

The rules live with their concepts, each a function of the block's `StateDraft`:
    app/core/accounts.py    accounts, their proofs, and transactions (`apply_tx`)
    app/core/tasks.py       tasks and their rounds (`check_rounds`, `apply_rounds`)
    app/core/rewards.py     the block's reward split and the vesting of miner rewards
    app/core/fraud.py       fraud proofs, which claw back a miner's pending rewards
    app/core/validators.py  committee election and the slashing of equivocators
This module holds the state itself: the value, its commitments and entries, and the working copy
that applies a block in order (`ChainState.apply_body`; app/core/builder.py builds one likewise).

State entries (`entries()`, the only interface of the SQLite store, docs/PROTOCOL.md, Part 2):
    b"a" + address(20)  -> Account        b"t" + task_id(32) -> TaskState
    b"m"                -> ChainMeta      b"c" / b"n"        -> Committee (current / next block's)
    b"s"                -> SlashedOffences (this epoch's punished offences; absent when none)
    b"r" + receipt_id(32) -> PendingReward (a miner reward in its challenge window, or settled recently)
    b"h"                -> head block hash (raw 32 bytes; NOT under the state root, see `HEAD_KEY`)
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property

from app.core import crypto
from app.core.accounts import (
    ACCOUNT_PREFIX,
    EMPTY_ACCOUNT,
    Account,
    AccountProof,
    UnknownAccount,
    account_key,
    apply_tx,
    state_leaf,
)
from app.core.encoding import Record, ShortText, Uint64
from app.core.entryproof import MAX_RANGE_ENTRIES, EntryProof, RangeProof, range_floor
from app.core.errors import EncodingError, StorageError
from app.core.fraud import apply_fraud_proofs
from app.core.hashing import ZERO_HASH
from app.core.merkle import merkle_levels, merkle_root, proof_from_levels
from app.core.params import ChainParams
from app.core.rewards import REWARD_PENDING, REWARD_PREFIX, PendingReward, WrongRewards, reward_key, vest_rewards
from app.core.state_reads import StateReads
from app.core.tasks import TASK_EXPIRED, TASK_OPEN, TASK_PREFIX, TaskState, apply_rounds, task_key
from app.core.types import AnyTransaction, BlockBody, BlockHeader, Committee
from app.core.validators import Offence, OffenceKey, SlashedOffences, apply_evidence, elect_committee

META_KEY = b"m"
COMMITTEE_KEY = b"c"
NEXT_COMMITTEE_KEY = b"n"
# A state cannot commit to the hash of the block whose header commits to the state, so the head
# hash is stored with the entries (the store needs it to resume) but left out of the state root.
HEAD_KEY = b"h"
SLASHED_KEY = b"s"


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


# --------------------------------------------------------------------------- the state


@dataclass(frozen=True, eq=False)
class ChainState(StateReads):
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

    @cached_property
    def _merkle_levels(self) -> list[list[bytes]]:
        # Built on the first proof asked of this state (a server's head), then every proof is a lookup.
        return merkle_levels([self._leaves[k] for k in self._sorted_keys])

    def prove_account(self, address: bytes) -> AccountProof:
        """The account's value with its inclusion proof against `state_root`."""
        key = account_key(address)
        if key not in self._values:
            raise UnknownAccount(f"account {address.hex()} holds nothing")
        index = bisect.bisect_left(self._sorted_keys, key)
        proof = proof_from_levels(self._merkle_levels, index)
        return AccountProof(address=address, value=self._values[key], proof=proof)

    def prove_entry(self, index: int) -> EntryProof:
        """The entry at `index` in key order with its inclusion proof against `state_root`."""
        key = self._sorted_keys[index]
        return EntryProof(key=key, value=self._values[key], proof=proof_from_levels(self._merkle_levels, index))

    def prove_range(
        self, prefix: bytes, start: bytes = b"", limit: int = MAX_RANGE_ENTRIES, *, max_bytes: int | None = None
    ) -> RangeProof:
        """Every entry with `prefix` and key >= `start`, proven with its neighbours (app/core/entryproof.py).

        The page stops after `limit` entries, or before the entry that would take the page (neighbours
        included, sizes as encoded at most) past `max_bytes`, a server's share of its response frame. It
        always holds at least one entry when the range has any, so that paging goes forward.
        """
        if not 1 <= limit <= MAX_RANGE_ENTRIES:
            raise ValueError(f"limit {limit} outside 1..{MAX_RANGE_ENTRIES}")
        keys = self._sorted_keys
        first = end = bisect.bisect_left(keys, range_floor(prefix, start))
        used = self._entry_bytes(first - 1)
        while end < len(keys) and end - first < limit and keys[end].startswith(prefix):
            # Taking leaf `end` makes leaf `end + 1` the neighbour after: both must fit.
            if (
                max_bytes is not None
                and end > first
                and used + self._entry_bytes(end) + self._entry_bytes(end + 1) > max_bytes
            ):
                break
            used += self._entry_bytes(end)
            end += 1
        return RangeProof(
            prefix=prefix,
            start=start,
            entries=tuple(self.prove_entry(i) for i in range(first, end)),
            before=self.prove_entry(first - 1) if first > 0 else None,
            after=self.prove_entry(end) if end < len(keys) else None,
        )

    def _entry_bytes(self, index: int) -> int:
        """An upper bound of the encoded `EntryProof` of leaf `index` (0 outside the tree)."""
        if not 0 <= index < len(self._sorted_keys):
            return 0
        key = self._sorted_keys[index]
        return len(key) + len(self._values[key]) + 33 * (len(self._merkle_levels) - 1) + 48

    # ---- transitions

    def apply_tx(self, tx: AnyTransaction, proposer: bytes) -> "ChainState":
        """Apply one transaction as part of the next block, fees to the `proposer` address."""
        draft = StateDraft(self)
        apply_tx(draft, tx, proposer)
        return draft.freeze()

    def apply_body(self, header: BlockHeader, body: BlockBody) -> "ChainState":
        """Apply a block's body (no header checks: app.core.validation does those)."""
        draft = StateDraft(self)
        draft.begin_block(header)
        apply_evidence(draft, body.evidence, crypto.key_hash(header.proposer))
        apply_fraud_proofs(draft, body.fraud_proofs)
        rewards = apply_rounds(draft, body.receipts, body.results, header.proposer)
        if rewards != body.rewards:
            raise WrongRewards(
                f"block lists {len(body.rewards)} rewards, the state computes {len(rewards)} different ones"
            )
        proposer = crypto.key_hash(header.proposer)
        for tx in body.transactions:
            apply_tx(draft, tx, proposer)
        draft.end_block()
        return draft.freeze(head_hash=header.block_hash)


# --------------------------------------------------------------------------- the working copy


class StateDraft:
    """The mutable working copy one block is applied or built on (app.core.builder uses it too).

    Every rule applied to it (`apply_tx`, `apply_evidence`, ...) checks everything before it changes
    anything, so a rejected item leaves the draft as it was and a block builder can skip it and go on.
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

    def end_block(self) -> None:
        """Vest rewards, expire stalled tasks, then at an epoch's end elect the next committee and reset work."""
        vest_rewards(self)
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
