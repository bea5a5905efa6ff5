"""Pending transactions, each checked against the head state before it is admitted.

A transaction is admitted only if it applies on the head state *after* the sender's pending ones
(so nonces chain); after each commit the pool re-checks everything against the new head and drops
what was included or went stale. Bounded in count, so a flood cannot grow it.
"""

from __future__ import annotations

from collections import OrderedDict

from app.core.errors import PotError
from app.core.hashing import ZERO_HASH
from app.core.state import ChainState
from app.core.types import AnyTransaction, Bond, TaskPost, Transfer, Unbond

MAX_PENDING = 10_000
# How far past the sender's head nonce gossip still relays a transaction: a wallet may send a few in a
# row before the first is mined, and their order of arrival is not guaranteed.
MAX_NONCE_AHEAD = 16


class MempoolFull(PotError):
    """The pool holds MAX_PENDING transactions already."""


def precheck(tx: AnyTransaction, head: ChainState) -> str | None:
    """Why `tx` cannot be mined on `head` as things stand (nonce used or far ahead, funds short), else None.

    Cheap (no state copy, no signature check): gossip runs it before relaying, so a flood of signed
    transactions from unfunded keys stops at the first hop and earns the sender nothing.
    """
    acct = head.account(tx.sender_address)
    if tx.nonce < acct.nonce:
        return f"nonce {tx.nonce} is used (the sender's next is {acct.nonce})"
    if tx.nonce > acct.nonce + MAX_NONCE_AHEAD:
        return f"nonce {tx.nonce} is more than {MAX_NONCE_AHEAD} past the sender's next ({acct.nonce})"
    if isinstance(tx, Unbond):
        if tx.amount > acct.bond:
            return f"unbonds {tx.amount} grains of a bond of {acct.bond}"
        cost, funds = tx.fee, acct.balance + tx.amount
    else:
        spend = tx.amount if isinstance(tx, (Transfer, Bond)) else 0
        escrow = tx.fee_per_round * tx.spec.rounds if isinstance(tx, TaskPost) else 0
        cost, funds = spend + escrow + tx.fee, acct.balance
    if cost > funds:
        return f"costs {cost} grains, the sender has {funds}"
    return None


class Mempool:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._txs: OrderedDict[bytes, AnyTransaction] = OrderedDict()
        self._max = max_pending

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._txs

    def add(self, tx: AnyTransaction, head: ChainState) -> bool:
        """Admit `tx` if it applies after the pending ones; False for a duplicate; raise `PotError` if invalid."""
        if tx.tx_id in self._txs:
            return False
        if len(self._txs) >= self._max:
            raise MempoolFull(f"the mempool holds {self._max} transactions")
        state = head
        for pending in self._txs.values():
            if pending.sender == tx.sender:
                state = state.apply_tx(pending, ZERO_HASH[:20])
        state.apply_tx(tx, ZERO_HASH[:20])
        self._txs[tx.tx_id] = tx
        return True

    def pending(self) -> list[AnyTransaction]:
        """Transactions in arrival order (the builder skips any the state rejects)."""
        return list(self._txs.values())

    def refresh(self, head: ChainState) -> None:
        """Drop what the new head included or made invalid."""
        kept: OrderedDict[bytes, AnyTransaction] = OrderedDict()
        state = head
        for tx_id, tx in self._txs.items():
            try:
                state = state.apply_tx(tx, ZERO_HASH[:20])
            except PotError:
                continue
            kept[tx_id] = tx
        self._txs = kept
