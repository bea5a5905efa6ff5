"""The full node's history pages: a real store fed real certified blocks, every item proven, paging by
height without gaps, and one block load per block."""

from __future__ import annotations

from pathlib import Path

from app.core.history import HistoryPage, verify_history_page
from app.core.storage import TxEntry
from app.node.chain import ChainManager
from app.node.history import history_items, whole_blocks
from tests.core.chainkit import Chain


def paged_chain() -> Chain:
    """U0's transactions: 2 in block 1, 3 in block 2, 1 in block 3; block 4 holds none of them."""
    c = Chain()
    u0, u1, u2 = c.users
    c.advance([c.transfer(u0, u1.address, 1), c.transfer(u1, u2.address, 2), c.transfer(u2, u0.address, 3)])
    c.advance([c.transfer(u0, u1.address, 4), c.transfer(u0, u2.address, 5), c.bond(u0, 200), c.bond(u1, 200)])
    c.advance([c.transfer(u1, u0.address, 6)])
    c.advance([c.transfer(u1, u2.address, 7)])
    return c


def full_node(c: Chain, tmp_path: Path) -> ChainManager:
    manager = ChainManager.open(tmp_path / "chain.sqlite", c.genesis)
    for block in c.blocks[1:]:
        manager.commit(block)
    return manager


def positions(items) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    return [(i.header.height, i.index) for i in items]


def test_pages_are_proven_newest_first_and_cut_at_block_boundaries(tmp_path: Path) -> None:
    c = paged_chain()
    node = full_node(c, tmp_path)
    address = c.users[0].address
    hashes = {b.header.height: b.block_hash for b in c.blocks}
    everything = history_items(node.store, address, 64)
    assert positions(everything) == [(3, 0), (2, 2), (2, 1), (2, 0), (1, 2), (1, 0)]
    verify_history_page(HistoryPage(tuple(everything)), address, hashes.get)

    pages, before = [], None
    while page := node.history(address, 3, before):  # the first page would split block 2: it stops at block 3
        verify_history_page(HistoryPage(tuple(page)), address, hashes.get, before)
        pages.append(positions(page))
        before = page[-1].header.height
    assert pages == [[(3, 0)], [(2, 2), (2, 1), (2, 0)], [(1, 2), (1, 0)]]
    assert sum(pages, []) == positions(everything)

    # a block with more of the address's transactions than a page is served in part (its newest)
    assert positions(history_items(node.store, address, 2, before_height=3)) == [(2, 2), (2, 1)]
    assert history_items(node.store, c.users[0].address, 64, before_height=1) == []
    assert positions(history_items(node.store, address, 64, before_height=2**64 - 1)) == positions(everything)
    assert len(history_items(node.store, address, 10**6)) == 6  # the limit is clamped to a page
    node.close()


def test_one_block_load_per_block(tmp_path: Path) -> None:
    c = paged_chain()
    node = full_node(c, tmp_path)
    loads: list[int] = []
    load = node.store.block_by_height

    def counting(height: int):  # type: ignore[no-untyped-def]
        loads.append(height)
        return load(height)

    node.store.block_by_height = counting  # type: ignore[method-assign]
    items = history_items(node.store, c.users[0].address, 64)
    assert len(items) == 6 and loads == [3, 2, 1]
    node.close()


def test_the_store_pages_below_a_height(tmp_path: Path) -> None:
    c = paged_chain()
    node = full_node(c, tmp_path)
    address = c.users[0].address
    rows = node.store.txs_by_address(address, before_height=3)
    assert [(r.height, r.position) for r in rows] == [(2, 2), (2, 1), (2, 0), (1, 2), (1, 0)]
    assert node.store.txs_by_address(address, before_height=0) == []
    assert len(node.store.txs_by_address(address)) == 6
    node.close()


def test_whole_blocks_keeps_a_page_from_splitting_a_block() -> None:
    tx = Chain().transfer(Chain().users[0], bytes(20), 1)

    def entries(*heights: int) -> list[TxEntry]:
        return [TxEntry(h, i, tx) for i, h in enumerate(heights)]

    assert whole_blocks(entries(5, 4), 3) == entries(5, 4)  # all there is
    assert whole_blocks(entries(5, 4, 3, 2), 3) == entries(5, 4, 3)  # block 3 ends inside the page
    assert whole_blocks(entries(5, 4, 3, 3), 3) == entries(5, 4)  # block 3 would be split
    assert whole_blocks(entries(3, 3, 3, 3), 3) == entries(3, 3, 3)  # one block over a page: its newest
