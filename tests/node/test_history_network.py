"""A light client's proven history over real libp2p hosts.

A full node (a real store fed real certified blocks with transfers, serving headers and history as
app/node/node.py wires them) answers the `history` protocol; the client verifies the headers itself
with `HeaderChain`, then every item of every page against those headers. A liar serving a forged item
is refused by the proof, one answering out of order by the protocol stub. A page of 64 of the largest
items that decode fits the response frame.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from app.core.errors import InvalidProof
from app.core.genesis import genesis_to_json
from app.core.history import HistoryItem, HistoryPage, verify_history_page
from app.core.merkle import MerkleProof
from app.core.types import BlockHeader, TaskPost, TaskSpec, Transfer
from app.net import limits
from app.net.errors import FrameError
from app.net.host import NetConfig, NetHost
from app.net.messages import HistoryResponse
from app.net.protocols import Providers
from app.node.headers import HeaderChain
from app.node.keys import save_key
from app.node.node import Node, NodeConfig
from tests.core.chainkit import PARAMS
from tests.node.chainkit import KEYS, genesis
from tests.node.test_history import full_node, paged_chain, positions


def config(tmp: Path, name: str) -> NetConfig:
    return NetConfig(chain_id=PARAMS.chain_id, key_path=tmp / name / "p2p.key", heartbeat_s=0.2)


def test_a_light_client_pages_and_verifies_a_full_nodes_history(tmp_path: Path) -> None:
    c = paged_chain()
    node = full_node(c, tmp_path)
    address = c.users[0].address

    def forged(address: bytes, limit: int, before: int | None) -> list[HistoryItem]:
        items = node.history(address, limit, before)
        tx = items[0].tx
        assert isinstance(tx, Transfer)
        return [items[0].replace(tx=tx.replace(amount=tx.amount * 1000))] + items[1:]

    def disordered(address: bytes, limit: int, before: int | None) -> list[HistoryItem]:
        return list(reversed(node.history(address, limit, before)))

    async def main() -> None:
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(NetHost.open(config(tmp_path, "light")))
            peers = []
            for name, history in (("honest", node.history), ("liar", forged), ("muddled", disordered)):
                providers = Providers(headers=node.signed_headers, block=node.block, history=history)
                server = await stack.enter_async_context(NetHost.open(config(tmp_path, name), providers))
                peers.append(await client.connect(server.listen_addrs[0]))
            honest, liar, muddled = peers

            headers = HeaderChain(c.genesis)  # the client verifies the headers itself
            for signed in await client.call_headers(honest, 1, 256):
                headers.extend(signed)
            assert headers.height == 4
            hash_at = {h.height: h.block_hash for h in headers.recent}.get

            pages, before = [], None
            while (resp := await client.call_history(honest, address, 3, before)).items:
                verify_history_page(HistoryPage(resp.items), address, hash_at, before)
                pages.append(positions(resp.items))
                before = resp.items[-1].header.height
            assert pages == [[(3, 0)], [(2, 2), (2, 1), (2, 0)], [(1, 2), (1, 0)]]

            lie = await client.call_history(liar, address, 64)
            assert len(lie.items) == 6
            with pytest.raises(InvalidProof, match="root"):
                verify_history_page(HistoryPage(lie.items), address, hash_at)
            with pytest.raises(FrameError, match="not newest first"):
                await client.call_history(muddled, address, 64)
            assert {v.peer_id: v.offences for v in client.peers()}[muddled] == {"bad-response": 1}
            with pytest.raises(InvalidProof, match="no verified header"):  # a client that verified nothing yet
                verify_history_page(HistoryPage(lie.items[1:]), address, lambda height: None)

    try:
        trio.run(main)
    finally:
        node.close()


def test_a_page_of_the_largest_items_fits_the_response_frame() -> None:
    """64 items whose every field is at its limit (text in 4-byte characters, 64 proof siblings)."""
    wide = "\U0001f600"
    params = tuple((wide * 32, wide * 64) for _ in range(32))
    spec = TaskSpec(
        model=wide * 64,
        model_version=2**64 - 1,
        hyperparams=params,
        dataset_root=b"\xff" * 32,
        validation_shard=b"\xff" * 32,
        initial_checkpoint=b"\xff" * 32,
        optimizer=wide * 64,
        optimizer_params=params,
        batch_size=65536,
        local_steps=10**6,
        checkpoint_interval=10**6,
        rounds=10**6,
        patience_rounds=100_000,
        min_improvement_micro=10**7,
        title=wide * 80,
        description=wide * 500,
    )
    most = 2**64 - 1
    tx = TaskPost(wide * 64, b"\xff" * 32, most, spec, most, most, b"\xff" * 64)
    roots = [b"\xff" * 32] * 7
    header = BlockHeader(wide * 64, most, roots[0], most, most, most, *roots, b"\xff" * 32, b"\xff" * 32)
    proof = MerkleProof(index=most, leaf_count=most, siblings=(b"\xff" * 32,) * 64)
    page = HistoryResponse(items=(HistoryItem(header, most, tx, proof),) * limits.MAX_HISTORY_ITEMS)
    size = len(page.encode())
    assert 1 * limits.MIB < size < 2 * limits.MIB < limits.MAX_RESPONSE_FRAME
    assert HistoryResponse.decode(page.encode()) == page


def test_a_node_offers_the_history_protocol_from_its_chain(tmp_path: Path) -> None:
    """app/node/node.py wires the provider the test above serves: the chain's own history pages."""
    (tmp_path / "genesis.json").write_text(genesis_to_json(genesis()))
    save_key(tmp_path / "node.key", KEYS[0])
    config = NodeConfig(tmp_path / "data", tmp_path / "genesis.json", tmp_path / "node.key", role="full")
    node = Node(config)
    try:
        assert node.net._providers is not None and node.net._providers.history == node.chain.history
    finally:
        node.chain.close()
