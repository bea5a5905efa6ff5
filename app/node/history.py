"""The full node's side of a light client's proven history: pages of `HistoryItem`s from the store.

The store's address index (`Store.txs_by_address`) names the (height, position) of each transaction;
each block involved is loaded once and its transactions' leaves hashed once, however many of the
address's transactions it holds (`merkle.merkle_proofs`). Blocks are final, so a page read while the
head moves is still all proven against headers the client can verify.

Pages are cut at a block boundary: a light client asks for the next page with `before_height` = the
oldest height it holds, so a page that ended halfway through a block would hide that block's older
transactions for good. Only a block holding more than a whole page of the address's transactions is
served partly (its newest `limit`); docs/PROTOCOL.md says so.
"""

from __future__ import annotations

from itertools import groupby

from app.core.errors import StorageError
from app.core.history import MAX_HISTORY_PAGE, HistoryItem
from app.core.merkle import merkle_proofs
from app.core.storage import Store, TxEntry
from app.core.validation import item_leaf

MAX_BEFORE_HEIGHT = 2**63 - 1  # the store's heights are below this; a larger bound means "no bound"


def history_items(store: Store, address: bytes, limit: int, before_height: int | None = None) -> list[HistoryItem]:
    """Up to `limit` (at most 64) of `address`'s transactions below `before_height`, newest first, each
    with its block's header and its inclusion proof under the header's `txs_root`."""
    limit = max(1, min(limit, MAX_HISTORY_PAGE))
    if before_height is not None and before_height > MAX_BEFORE_HEIGHT:
        before_height = None
    entries = whole_blocks(store.txs_by_address(address, limit=limit + 1, before_height=before_height), limit)
    items: list[HistoryItem] = []
    for height, group in groupby(entries, key=lambda e: e.height):
        block = store.block_by_height(height)
        chosen = list(group)
        if block is None or any(e.position >= len(block.body.transactions) for e in chosen):
            raise StorageError(f"the address index names transactions block {height} does not hold")
        txs = block.body.transactions
        proofs = merkle_proofs([item_leaf(tx) for tx in txs], [e.position for e in chosen])
        items.extend(HistoryItem(block.header, e.position, txs[e.position], p) for e, p in zip(chosen, proofs))
    return items


def whole_blocks(entries: list[TxEntry], limit: int) -> list[TxEntry]:
    """The first `limit` of `entries` (newest first, up to `limit + 1` read), without the oldest
    block's entries if the page would split that block, unless that block alone fills the page."""
    if len(entries) <= limit:
        return entries
    page = entries[:limit]
    cut = page[-1].height
    if entries[limit].height != cut:
        return page
    kept = [e for e in page if e.height != cut]
    return kept or page
