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
from app.core.types import AnyTransaction

MAX_PENDING = 10_000


class MempoolFull(PotError):
    """The pool holds MAX_PENDING transactions already."""


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
