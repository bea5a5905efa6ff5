"""The light node's proven view, against real libp2p peers serving a real certified chain: one honest
full node, and liars that raise a balance or drop a task from the listing. The light node refuses
every lie, reports the liar, and builds its view from the honest answer (issue 13's must-show).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.accounts import ACCOUNT_PREFIX, Account
from app.core.builder import build_block
from app.core.entryproof import RangeProof
from app.core.errors import InvalidProof
from app.core.genesis import Genesis, genesis_to_json
from app.core.state import ChainState
from app.core.tasks import TASK_PREFIX
from app.core.types import NO_SIGNATURE, Block, SignedHeader, TaskPost
from app.core.validation import leader
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.protocols import Providers
from app.node.light_node import LightConfig, LightNode
from tests.core.chainkit import spec
from tests.node.chainkit import USER, certify, genesis as make_genesis

Lie = Callable[[RangeProof], RangeProof]


def task_chain(blocks_after: int = 4) -> tuple[Genesis, list[Block], ChainState, bytes]:
    """A certified chain whose first block posts two tasks, then `blocks_after` empty blocks."""
    g = make_genesis()
    from app.core.genesis import genesis_block

    _, state = genesis_block(g)
    posts = [
        TaskPost(
            g.params.chain_id, USER.public_key, n, spec(rounds=3, local_steps=10 + 5 * n), 500, 1, NO_SIGNATURE
        ).signed_by(USER)
        for n in range(2)
    ]
    blocks = []
    for height in range(1, blocks_after + 2):
        txs = posts if height == 1 else ()
        built = build_block(
            state, leader(state.next_committee, height, 0), timestamp_ms=1_000 + 1_000 * height, transactions=txs
        )
        blocks.append(certify(state, built.block))
        state = built.state
    assert len(state.tasks()) == 2
    return g, blocks, state, posts[0].tx_id


def raise_balance(proof: RangeProof) -> RangeProof:
    if not proof.prefix.startswith(ACCOUNT_PREFIX) or not proof.entries:
        return proof
    entry = proof.entries[0]
    forged = dataclasses.replace(Account.decode(entry.value), balance=10**15)
    return dataclasses.replace(proof, entries=(dataclasses.replace(entry, value=forged.encode()), *proof.entries[1:]))


def drop_a_task(proof: RangeProof) -> RangeProof:
    if proof.prefix != TASK_PREFIX or len(proof.entries) < 2:
        return proof
    return dataclasses.replace(proof, entries=proof.entries[:-1])


@pytest.fixture
def chain() -> tuple[Genesis, list[Block], ChainState, bytes]:
    return task_chain()


def serve(tmp: Path, name: str, g: Genesis, blocks: list[Block], state: ChainState, lie: Lie | None) -> NetThread:
    signed = [SignedHeader(header=b.header, qc=b.qc) for b in blocks]

    def headers(start: int, count: int) -> list[SignedHeader]:
        return [s for s in signed if start <= s.header.height < start + count]

    def entries(queries, max_bytes):  # type: ignore[no-untyped-def]
        ranges = [state.prove_range(prefix, start) for prefix, start in queries]
        return state.height, [lie(r) for r in ranges] if lie is not None else ranges

    net = NetThread(
        NetConfig(chain_id=g.params.chain_id, key_path=tmp / name / "p2p.key"),
        Providers(headers=headers, state_entries=entries),
    )
    net.start()
    return net


@pytest.fixture
def light_against(tmp_path: Path, chain) -> Iterator[Callable[..., LightNode]]:  # type: ignore[no-untyped-def]
    started: list[NetThread] = []
    nodes: list[LightNode] = []
    g, blocks, state, _ = chain
    (tmp_path / "genesis.json").write_text(genesis_to_json(g))

    def make(*lies: Lie | None) -> LightNode:
        servers = [serve(tmp_path, f"s{i}", g, blocks, state, lie) for i, lie in enumerate(lies)]
        started.extend(servers)
        addrs = tuple(f"{s.listen_addrs[0]}" for s in servers)
        node = LightNode(
            LightConfig(
                datadir=tmp_path / f"light{len(nodes)}", genesis_path=tmp_path / "genesis.json", bootstrap=addrs
            )
        )
        nodes.append(node)
        node.net.start()
        node.net.call(node._install)
        deadline = time.monotonic() + 20
        while len(node._peers()) < len(servers):
            assert time.monotonic() < deadline, "the light node did not reach its peers"
            time.sleep(0.1)
        return node

    yield make
    for node in nodes:
        node.net.stop()
        node.index.close()
    for server in started:
        server.stop()


def test_an_honest_peer_gives_a_view_proven_against_the_verified_head(light_against, chain) -> None:  # type: ignore[no-untyped-def]
    _, _, state, task_id = chain
    node = light_against(None)
    node.watch({USER.address})
    node.tick()
    view = node.view
    assert view is not None and view.height == state.height and view.state_root == state.state_root
    assert view.account(USER.address) == state.account(USER.address)
    assert set(view.tasks()) == set(state.tasks()) and view.task(task_id) == state.task(task_id)
    assert view.committee == state.committee and not node.refused
    stranger = bytes(20)  # not watched: proven on demand, and proven absent
    assert view.account(stranger) == state.account(stranger)


@pytest.mark.parametrize("lie", [raise_balance, drop_a_task], ids=["balance raised", "task dropped"])
def test_a_lying_full_node_is_refused_and_another_peer_asked(light_against, chain, lie) -> None:  # type: ignore[no-untyped-def]
    _, _, state, _ = chain
    node = light_against(lie, None)
    node.watch({USER.address})
    ticks = 0
    while not node.refused:  # peers are asked in random order: whichever comes first, the view is the truth
        assert ticks < 60, "the liar was never asked first"
        node.view = None
        node.tick()
        ticks += 1
        assert node.view is not None
        assert node.view.account(USER.address).balance == state.account(USER.address).balance
        assert len(node.view.tasks()) == 2
    assert all("InvalidProof" in why for _, _, why in node.refused)
    liar = node.refused[0][1]
    with pytest.raises(InvalidProof):
        node.prove_entries(liar, [ACCOUNT_PREFIX + USER.address, TASK_PREFIX])
    honest = [p for p in node._peers() if p != liar]
    assert len(honest) == 1 and node.prove_entries(honest[0], [TASK_PREFIX])[1].keys() == {
        TASK_PREFIX + t for t in state.tasks()
    }


def test_only_liars_give_no_view_and_an_error_that_says_so(light_against) -> None:  # type: ignore[no-untyped-def]
    node = light_against(raise_balance)
    node.watch({USER.address})
    node.tick()
    assert node.view is None and node.refused
    with pytest.raises(InvalidProof, match="no peer gave a proven answer"):
        node.prove_account(USER.address)


def test_a_restarted_light_node_resumes_from_its_header_index(tmp_path: Path, light_against, chain) -> None:  # type: ignore[no-untyped-def]
    _, _, state, _ = chain
    node = light_against(None)
    node.tick()
    assert node.index.height == state.height and node.index.hash_at(state.height) == state.head_hash
    node.net.stop()
    node.index.close()
    again = LightNode(node.config)  # no network started: what it knows comes from its own files
    try:
        assert again.client.headers.height == state.height
        assert again.client.headers.head.block_hash == state.head_hash
    finally:
        again.index.close()
