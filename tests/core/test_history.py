"""Proven history items: real blocks from the real builder and state machine, and every cheat refused.

The chain is tests/core/chainkit.py's: blocks built by `build_block`, signed by a quorum and validated
like a peer's. `hash_at` is what a light client would hold: the hashes of the headers it verified.
"""

from __future__ import annotations

import pytest

from app.core.errors import InvalidProof
from app.core.history import (
    HistoryItem,
    HistoryPage,
    tx_addresses,
    verify_history_item,
    verify_history_page,
)
from app.core.merkle import merkle_proof, merkle_root
from app.core.types import Block, Transfer
from tests.core.chainkit import Chain


def history_chain() -> Chain:
    """Block 1: two transfers, a bond and a task post; block 2: one transfer."""
    c = Chain()
    u0, u1, u2 = c.users
    c.advance([c.transfer(u0, u1.address, 10), c.transfer(u2, u0.address, 20), c.bond(u1, 200), c.post_task(u2)])
    c.advance([c.transfer(u0, u2.address, 30)])
    assert [len(b.body.transactions) for b in c.blocks] == [0, 4, 1]
    return c


CHAIN = history_chain()
U0, U1, U2 = CHAIN.users
HASHES = {b.header.height: b.block_hash for b in CHAIN.blocks}


def hash_at(height: int) -> bytes | None:
    return HASHES.get(height)


def item(block: Block, index: int) -> HistoryItem:
    """An honest item: the chain's leaves are the transactions' canonical encodings."""
    leaves = [tx.encode() for tx in block.body.transactions]
    return HistoryItem(block.header, index, block.body.transactions[index], merkle_proof(leaves, index))


def test_every_included_transaction_is_proven_for_the_addresses_it_touches() -> None:
    expected = {
        (1, 0): {U0.address, U1.address},
        (1, 1): {U2.address, U0.address},
        (1, 2): {U1.address},  # a bond touches its sender only
        (1, 3): {U2.address},  # so does a task post
        (2, 0): {U0.address, U2.address},
    }
    for (height, index), touched in expected.items():
        it = item(CHAIN.blocks[height], index)
        assert tx_addresses(it.tx) == touched
        for address in touched:
            verify_history_item(it, address, hash_at)
        assert HistoryItem.decode(it.encode()) == it


def test_a_transaction_not_in_the_block_is_refused() -> None:
    block = CHAIN.blocks[1]
    honest = item(block, 0)
    stranger = CHAIN.transfer(U0, U1.address, 999, nonce=77)
    with pytest.raises(InvalidProof):
        verify_history_item(honest.replace(tx=stranger), U0.address, hash_at)
    # a real transaction of another block, under this block's header
    elsewhere = CHAIN.blocks[2].body.transactions[0]
    with pytest.raises(InvalidProof):
        verify_history_item(honest.replace(tx=elsewhere), U0.address, hash_at)


def test_a_wrong_index_is_refused() -> None:
    block = CHAIN.blocks[1]
    honest = item(block, 0)
    with pytest.raises(InvalidProof, match="position"):  # the index and the proof disagree
        verify_history_item(honest.replace(index=1), U0.address, hash_at)
    with pytest.raises(InvalidProof):  # the proof of position 1 for the transaction at 0
        verify_history_item(item(block, 1).replace(tx=honest.tx), U0.address, hash_at)
    moved = honest.proof.replace(index=1)
    with pytest.raises(InvalidProof):  # both claim position 1, the siblings are position 0's
        verify_history_item(honest.replace(index=1, proof=moved), U0.address, hash_at)
    with pytest.raises(InvalidProof):  # a tree of another size
        verify_history_item(honest.replace(proof=honest.proof.replace(leaf_count=5)), U0.address, hash_at)


def test_a_header_the_client_did_not_verify_is_refused() -> None:
    honest = item(CHAIN.blocks[1], 0)
    with pytest.raises(InvalidProof, match="no verified header"):
        verify_history_item(honest, U0.address, lambda height: None)
    with pytest.raises(InvalidProof, match="not the one this client verified"):
        verify_history_item(honest, U0.address, lambda height: HASHES[2])
    # a real, fully consistent block on a fork at height 1, which this client did not verify
    fork = Chain()
    fork.advance([fork.transfer(fork.users[0], U1.address, 11)])
    forked = item(fork.blocks[1], 0)
    assert forked.header.height == 1 and forked.header.block_hash != HASHES[1]
    verify_history_item(forked, U0.address, lambda height: fork.blocks[height].block_hash)
    with pytest.raises(InvalidProof, match="not the one this client verified"):
        verify_history_item(forked, U0.address, hash_at)


def test_a_transaction_that_does_not_touch_the_address_is_refused() -> None:
    transfer = item(CHAIN.blocks[1], 0)  # U0 -> U1
    with pytest.raises(InvalidProof, match="neither comes from nor goes to"):
        verify_history_item(transfer, U2.address, hash_at)
    bond = item(CHAIN.blocks[1], 2)  # U1's bond
    with pytest.raises(InvalidProof, match="neither comes from nor goes to"):
        verify_history_item(bond, U0.address, hash_at)


def test_a_forged_header_with_a_recomputed_txs_root_is_refused() -> None:
    block = CHAIN.blocks[1]
    forged_tx = CHAIN.transfer(U1, U0.address, 10**6, nonce=50)
    txs = (forged_tx, *block.body.transactions[1:])
    leaves = [tx.encode() for tx in txs]
    header = block.header.replace(txs_root=merkle_root(leaves))
    forged = HistoryItem(header, 0, forged_tx, merkle_proof(leaves, 0))
    verify_history_item(forged, U0.address, lambda height: header.block_hash)  # consistent in itself
    with pytest.raises(InvalidProof, match="not the one this client verified"):
        verify_history_item(forged, U0.address, hash_at)


def test_a_changed_transaction_field_breaks_the_proof() -> None:
    honest = item(CHAIN.blocks[1], 0)
    assert isinstance(honest.tx, Transfer)
    with pytest.raises(InvalidProof, match="root"):
        verify_history_item(honest.replace(tx=honest.tx.replace(amount=10**6)), U0.address, hash_at)


def test_a_page_must_be_newest_first_below_the_bound_and_each_item_proven() -> None:
    newest_first = (item(CHAIN.blocks[2], 0), item(CHAIN.blocks[1], 1), item(CHAIN.blocks[1], 0))
    verify_history_page(HistoryPage(newest_first), U0.address, hash_at)
    verify_history_page(HistoryPage(newest_first[1:]), U0.address, hash_at, before_height=2)
    verify_history_page(HistoryPage(()), U0.address, hash_at)
    with pytest.raises(InvalidProof, match="not below"):
        verify_history_page(HistoryPage(newest_first), U0.address, hash_at, before_height=2)
    with pytest.raises(InvalidProof, match="newest first"):
        verify_history_page(HistoryPage(tuple(reversed(newest_first))), U0.address, hash_at)
    with pytest.raises(InvalidProof, match="newest first"):
        verify_history_page(HistoryPage((newest_first[0], newest_first[0])), U0.address, hash_at)
    with pytest.raises(InvalidProof, match="neither"):
        verify_history_page(HistoryPage((newest_first[0], item(CHAIN.blocks[1], 2))), U0.address, hash_at)
    assert HistoryPage.decode(HistoryPage(newest_first).encode()) == HistoryPage(newest_first)
