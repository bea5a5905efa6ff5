"""What a light daemon knows of the chain's state: only entries proven against a verified header.

A `ProvenState` is one immutable snapshot at a verified header: the chain's counters and committees,
every task (a complete listing, proven by a range proof), the accounts the wallet watches and the
pending rewards of this miner's own receipts, each decoded from an entry whose Merkle proof led to
that header's `state_root` (app/core/entryproof.py). It answers the reads the daemon's handlers make of
a full node's `ChainState` (`StateView` names them), so the window shows nothing a full node merely
claimed. An account outside the watched set is proven on demand through `lookup` and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from app.core.accounts import ACCOUNT_PREFIX, EMPTY_ACCOUNT, Account
from app.core.errors import EncodingError, InvalidProof
from app.core.params import ChainParams
from app.core.rewards import REWARD_PREFIX, PendingReward
from app.core.state import COMMITTEE_KEY, META_KEY, NEXT_COMMITTEE_KEY, ChainMeta
from app.core.state_reads import StateReads
from app.core.tasks import TASK_PREFIX, TaskState
from app.core.types import BlockHeader, Committee

AccountLookup = Callable[[bytes], Account]  # address -> account proven now (blocking network call)


class StateView(Protocol):
    """The reads the daemon makes of the chain's state; `ChainState` (full) and `ProvenState` (light)."""

    @property
    def params(self) -> ChainParams: ...
    @property
    def height(self) -> int: ...
    @property
    def epoch(self) -> int: ...
    @property
    def head_hash(self) -> bytes: ...
    @property
    def chain_id(self) -> str: ...
    @property
    def committee(self) -> Committee: ...
    @property
    def next_committee(self) -> Committee: ...
    def account(self, address: bytes) -> Account: ...
    def task(self, task_id: bytes) -> TaskState | None: ...
    def tasks(self) -> Mapping[bytes, TaskState]: ...
    def pending_reward(self, receipt_id: bytes) -> PendingReward | None: ...
    def pending_rewards(self, address: bytes | None = None) -> dict[bytes, PendingReward]: ...
    def round_anchor(self, task_id: bytes) -> bytes: ...


@dataclass(frozen=True, eq=False)
class ProvenState(StateReads):
    """Entries proven against `header.state_root`; see the module docstring."""

    params: ChainParams
    header: BlockHeader
    meta: ChainMeta
    committee: Committee
    next_committee: Committee
    _tasks: Mapping[bytes, TaskState]
    _accounts: Mapping[bytes, Account]  # the watched addresses (an absent account proven absent: empty)
    _rewards: Mapping[bytes, PendingReward]  # receipt id -> reward, for this miner's receipts
    lookup: AccountLookup | None = field(default=None, repr=False)
    _looked_up: dict[bytes, Account] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def epoch(self) -> int:
        return self.header.epoch

    @property
    def timestamp_ms(self) -> int:
        return self.header.timestamp_ms

    @property
    def head_hash(self) -> bytes:
        return self.header.block_hash

    @property
    def state_root(self) -> bytes:
        return self.header.state_root

    @property
    def chain_id(self) -> str:
        return self.params.chain_id

    def account(self, address: bytes) -> Account:
        """A watched account from the snapshot, any other proven now (and kept for this snapshot)."""
        known = self._accounts.get(address)
        if known is not None:
            return known
        with self._lock:
            if address in self._looked_up:
                return self._looked_up[address]
        if self.lookup is None:
            raise InvalidProof("this light view holds no proof of that account")
        account = self.lookup(address)
        with self._lock:
            self._looked_up[address] = account
        return account


def proven_state(
    params: ChainParams,
    header: BlockHeader,
    entries: Mapping[bytes, bytes],
    watched: tuple[bytes, ...],
    lookup: AccountLookup | None = None,
) -> ProvenState:
    """Decode proven `entries` (key -> value, all verified against `header.state_root` by the caller,
    every task and the meta and committee entries included) into a snapshot. A watched address with
    no entry was proven absent by its range proof: an empty account. A value that does not decode as
    its key's record is `InvalidProof`: the header commits to it, so the chain itself would be broken."""
    try:
        meta = ChainMeta.decode(entries[META_KEY])
        committee = Committee.decode(entries[COMMITTEE_KEY])
        next_committee = Committee.decode(entries[NEXT_COMMITTEE_KEY])
        tasks = {k[1:]: TaskState.decode(v) for k, v in entries.items() if k[:1] == TASK_PREFIX}
        rewards = {k[1:]: PendingReward.decode(v) for k, v in entries.items() if k[:1] == REWARD_PREFIX}
        accounts = {
            address: Account.decode(entries[ACCOUNT_PREFIX + address])
            if ACCOUNT_PREFIX + address in entries
            else EMPTY_ACCOUNT
            for address in watched
        }
    except KeyError as exc:
        raise InvalidProof(f"the proven entries lack {exc.args[0]!r}") from None
    except EncodingError as exc:
        raise InvalidProof(f"a proven entry does not decode: {exc}") from None
    if meta.height != header.height or meta.chain_id != params.chain_id:
        raise InvalidProof("the proven counters are not the header's")
    return ProvenState(params, header, meta, committee, next_committee, tasks, accounts, rewards, lookup)
