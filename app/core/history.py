"""A wallet's transaction history, proven to a light client that holds verified headers only.

Each `HistoryItem` carries a transaction, its position in its block's body and the Merkle proof of
that position under the header's `txs_root`, built over the same leaves the chain commits to
(`validation.item_leaf`: each transaction's canonical encoding; the proof binds index and leaf count).
The header travels with the item but is trusted only if the client verified a header of that hash at
that height itself: `hash_at(height)` is the client's own index of verified headers. So a full node
can leave items out of a page (completeness is not provable this way), but it cannot invent, move or
misattribute one.

Which transactions are an address's is `tx_addresses`: the sender's address, and a transfer's
recipient. The full node's index (`Store.txs_by_address`) uses this same rule, so every item it
serves passes the check here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from app.core.encoding import MaxLen, Record, Uint64
from app.core.errors import InvalidProof
from app.core.merkle import MerkleProof, verify_proof
from app.core.types import AnyTransaction, BlockHeader, Transfer
from app.core.validation import item_leaf

MAX_HISTORY_PAGE = 64  # items per page and per network answer (app/net/limits.py sizes the frame)

HashAt = Callable[[int], bytes | None]  # the verified header hash at a height, None if not verified here


def tx_addresses(tx: AnyTransaction) -> frozenset[bytes]:
    """The addresses a transaction touches: its sender's, and a transfer's recipient."""
    if isinstance(tx, Transfer):
        return frozenset((tx.sender_address, tx.recipient))
    return frozenset((tx.sender_address,))


@dataclass(frozen=True)
class HistoryItem(Record):
    """The transaction at `index` of the block body under `header`, with its inclusion proof."""

    TAG = 150
    header: BlockHeader
    index: Uint64
    tx: AnyTransaction
    proof: MerkleProof


@dataclass(frozen=True)
class HistoryPage(Record):
    """Up to 64 history items, newest first (by height, then position in the block)."""

    TAG = 151
    items: Annotated[tuple[HistoryItem, ...], MaxLen(MAX_HISTORY_PAGE)]


def verify_history_item(item: HistoryItem, address: bytes, hash_at: HashAt) -> None:
    """Raise `InvalidProof` unless `item.tx` is in a block this client verified and touches `address`.

    The header is checked by hash against the client's own verified header at its height (a forged
    header with a recomputed `txs_root` hashes differently), then the transaction's leaf against
    that header's `txs_root` at `item.index`.
    """
    header = item.header
    verified = hash_at(header.height)
    if verified is None:
        raise InvalidProof(f"no verified header at height {header.height}")
    if verified != header.block_hash:
        raise InvalidProof(f"the header at height {header.height} is not the one this client verified")
    if item.proof.index != item.index:
        raise InvalidProof(f"the proof is for position {item.proof.index}, not {item.index}")
    verify_proof(header.txs_root, item_leaf(item.tx), item.proof)
    if address not in tx_addresses(item.tx):
        raise InvalidProof("the transaction neither comes from nor goes to the address")


def verify_history_page(page: HistoryPage, address: bytes, hash_at: HashAt, before_height: int | None = None) -> None:
    """Verify every item, and that the page is in the order asked: newest first, each position once,
    every item below `before_height` (when given). Raise `InvalidProof` otherwise."""
    last: tuple[int, int] | None = None
    for item in page.items:
        key = (item.header.height, item.index)
        if before_height is not None and key[0] >= before_height:
            raise InvalidProof(f"an item at height {key[0]}, not below {before_height}")
        if last is not None and key >= last:
            raise InvalidProof("the items are not newest first, or one repeats")
        verify_history_item(item, address, hash_at)
        last = key
