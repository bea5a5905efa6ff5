"""Accounts and transactions: the account record, its key, leaf and inclusion proof, and `apply_tx`.

A transaction (Transfer, TaskPost, Bond, Unbond) is applied to a block's `StateDraft` by `apply_tx`:
it checks everything before it changes anything, moves money between balances, bonds and task escrows,
and pays its fee to the block's proposer (app/core/state.py has the state as a whole).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated

from app.core import admission, crypto, patience, tasktext
from app.core.encoding import Bytes20, MaxLen, PublicKey32, Record, Uint64, encode
from app.core.errors import (
    BadNonce,
    EncodingError,
    InsufficientFunds,
    InvalidProof,
    InvalidTransaction,
    PotError,
    WrongChain,
)
from app.core.hashing import DOMAIN_STATE_LEAF, tagged_hash
from app.core.merkle import MerkleProof, verify_proof
from app.core.tasks import new_task
from app.core.types import AnyTransaction, Bond, TaskPost, Transfer, Unbond

if TYPE_CHECKING:
    from app.core.state import StateDraft

ACCOUNT_PREFIX = b"a"


class BondLocked(InvalidTransaction):
    """An Unbond by a member of the current or next committee: its bond must stay slashable."""


class UnknownAccount(PotError):
    """A proof was asked for an account that holds nothing (absent from the state)."""


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


def account_key(address: bytes) -> bytes:
    return ACCOUNT_PREFIX + address


def state_leaf(key: bytes, value: bytes) -> bytes:
    """The Merkle leaf of one state entry; binding the key stops a proof of one account posing as another's."""
    return tagged_hash(DOMAIN_STATE_LEAF, encode([key, value]))


def verify_account_proof(state_root: bytes, address: bytes, value: bytes, proof: MerkleProof) -> None:
    """Raise `InvalidProof` unless `value` is the entry of `address` under `state_root` (pure, light-client side)."""
    if len(address) != crypto.ADDRESS_LEN:
        raise InvalidProof("an address is 20 bytes")
    verify_proof(state_root, state_leaf(account_key(address), value), proof)


def apply_tx(draft: StateDraft, tx: AnyTransaction, proposer: bytes) -> None:
    if tx.chain_id != draft.params.chain_id:
        raise WrongChain(f"transaction for chain {tx.chain_id!r}, not {draft.params.chain_id!r}")
    tx.verify_signature()
    sender = tx.sender_address
    acct = draft.account(sender)
    if tx.nonce != acct.nonce:
        raise BadNonce(f"nonce {tx.nonce}, the sender's next nonce is {acct.nonce}")
    acct = replace(acct, nonce=acct.nonce + 1, public_key=tx.sender)
    if isinstance(tx, Transfer):
        _require_funds(acct.balance, tx.amount + tx.fee, "transfer")
        draft.set_account(sender, replace(acct, balance=acct.balance - tx.amount - tx.fee))
        draft.credit(tx.recipient, tx.amount)
    elif isinstance(tx, TaskPost):
        admission.check_task_post(tx.spec, tx.fee_per_round, draft.params.min_fee_per_gflop)
        patience.check_patience(tx.spec)
        tasktext.check_task_text(tx.spec)
        escrow = tx.fee_per_round * tx.spec.rounds
        _require_funds(acct.balance, escrow + tx.fee, "task escrow")
        task_id = tx.tx_id
        if task_id in draft.tasks:
            raise InvalidTransaction(f"task {task_id.hex()[:16]} already exists")
        draft.set_account(sender, replace(acct, balance=acct.balance - escrow - tx.fee))
        draft.set_task(task_id, new_task(tx, sender, escrow, draft.block_height))
    elif isinstance(tx, Bond):
        if tx.amount == 0:
            raise InvalidTransaction("a bond of zero grains")
        _require_funds(acct.balance, tx.amount + tx.fee, "bond")
        draft.set_account(sender, replace(acct, balance=acct.balance - tx.amount - tx.fee, bond=acct.bond + tx.amount))
    elif isinstance(tx, Unbond):
        if tx.amount == 0:
            raise InvalidTransaction("an unbond of zero grains")
        if tx.sender in draft.committee.members or tx.sender in draft.next_committee.members:
            raise BondLocked("a committee member cannot unbond until it leaves the committee")
        _require_funds(acct.bond, tx.amount, "unbond")
        _require_funds(acct.balance + tx.amount, tx.fee, "unbond fee")
        draft.set_account(sender, replace(acct, balance=acct.balance + tx.amount - tx.fee, bond=acct.bond - tx.amount))
    else:  # the type union is closed; a new transaction type must be handled here
        raise InvalidTransaction(f"unknown transaction type {type(tx).__name__}")
    draft.credit(proposer, tx.fee)


def _require_funds(available: int, needed: int, what: str) -> None:
    if needed > available:
        raise InsufficientFunds(f"{what} needs {needed} grains, {available} available")
