"""A network split of real validator processes, and its healing (issue 4: no two final blocks at one height).

Four validators on 127.0.0.1 (f = 1, quorum 3). The split is made by the nodes themselves: each
side's operator deny list (`<datadir>/denied_peers`) names the other side's peer ids, so they drop
the connections, refuse new ones, ignore each other's gossip and never dial each other (a clean cut:
nobody is on both sides to relay). Healing empties the lists. Everything waits on conditions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from app.core.storage import Store
from app.node.devnet import Devnet, DevnetConfig
from app.node.node import DENIED_PEERS_FILE

NAMES = ("v0", "v1", "v2", "v3")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    config = DevnetConfig(
        validators=4,
        miners=0,
        datadir=tmp_path_factory.mktemp("split"),
        post_task=False,
        block_interval_s=0.5,
        extra_args=("--propose-timeout-ms", "1000"),
    )
    with Devnet(config) as devnet:
        yield devnet


def height(net: Devnet, name: str) -> int:
    st = net.status(name)
    return -1 if st is None else int(st["height"])


def view(net: Devnet, name: str) -> tuple[int, int]:
    st = net.status(name)
    return (int(st["height"]), int(st["engine_view"]))


def split(net: Devnet, sides: Sequence[Sequence[str]]) -> None:
    """Each node denies every node outside its side; an empty list of sides heals."""
    for name in NAMES:
        mine = next((s for s in sides if name in s), NAMES)
        denied = [net.members[o].peer_id for o in NAMES if o not in mine]
        path = net.members[name].datadir / DENIED_PEERS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{p}\n" for p in denied))
        os.replace(tmp, path)


def connected(net: Devnet, a: str, b: str) -> bool:
    peers = {p["peer_id"]: p for p in net.status(a)["peers"]}
    entry = peers.get(net.members[b].peer_id)
    return bool(entry and entry["connected"])


def cut(net: Devnet, sides: Sequence[Sequence[str]]) -> bool:
    return all(not connected(net, a, b) for s in sides for a in s for b in NAMES if b not in s)


def agreed_up_to(net: Devnet, top: int) -> None:
    """Every node holds the same block at every height up to `top`."""
    assert net.genesis is not None
    for h in range(1, top + 1):
        hashes = set()
        for name in NAMES:
            with Store(net.members[name].datadir / "chain.sqlite", net.genesis.params.chain_id) as store:
                hashes.add(store.header_by_height(h).block_hash)
        assert len(hashes) == 1, f"two final blocks at height {h}"


def test_a_split_stalls_the_minority_and_heals_without_two_final_blocks(net: Devnet) -> None:
    net.wait_for(lambda: all(height(net, n) >= 2 for n in NAMES), timeout_s=120)

    # 3 | 1: the majority keeps a quorum and finalises; the lone member cannot.
    sides = [("v0", "v1", "v2"), ("v3",)]
    split(net, sides)
    net.wait_for(lambda: cut(net, sides), timeout_s=60, poll_s=0.5)
    lone = height(net, "v3")
    start = max(height(net, n) for n in sides[0])
    net.wait_for(lambda: all(height(net, n) >= start + 3 for n in sides[0]), timeout_s=120, poll_s=0.5)
    net.wait_for(lambda: view(net, "v3")[1] >= 2, timeout_s=120, poll_s=0.5)  # two failed views alone
    assert height(net, "v3") <= lone + 1  # at most a block whose last votes were already in flight

    # 2 | 2: no side has a quorum; both go through views without finalising anything.
    sides = [("v0", "v1"), ("v2", "v3")]
    split(net, sides)
    net.wait_for(lambda: cut(net, sides), timeout_s=60, poll_s=0.5)
    frozen = {n: height(net, n) for n in NAMES}
    net.wait_for(lambda: all(view(net, n)[1] >= 2 for n in NAMES), timeout_s=180, poll_s=0.5)
    top = max(frozen.values())
    assert all(height(net, n) <= top + 1 for n in NAMES)

    # heal: everyone reconnects, the stragglers sync, the committee agrees on a view and goes on
    split(net, [])
    target = max(height(net, n) for n in NAMES) + 3
    net.wait_for(lambda: all(height(net, n) >= target for n in NAMES), timeout_s=180, poll_s=0.5)
    agreed_up_to(net, min(height(net, n) for n in NAMES))
    for name in NAMES:
        assert "deny list: banning" in (Path(net.members[name].datadir) / "node.log").read_text()
