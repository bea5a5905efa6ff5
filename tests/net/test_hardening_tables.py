"""Issue 17 row 3: every per-peer table is bounded and pruned (new peer identities are free)."""

from __future__ import annotations

from app.net.peers import Offence, PeerTable, ScorePolicy


def test_the_peer_table_forgets_faded_peers_and_stays_bounded_but_keeps_bans_and_connections() -> None:
    now = [0.0]
    table = PeerTable(ScorePolicy(half_life_s=10.0), clock=lambda: now[0])
    # 5000 throwaway identities each send one good message, as a Sybil flood would.
    for i in range(5000):
        table.reward(f"sybil{i}")
    table.set_connected("friend", True)
    for _ in range(6):
        table.penalise("villain", Offence.BAD_FRAME)  # banned
    assert table.is_banned("villain") and len(table) == 5002

    assert table.prune(max_peers=1000) == 4002  # still warm: only the cap applies, oldest idle first
    assert len(table) == 1000
    kept = {v.peer_id for v in table.snapshot()}
    assert {"friend", "villain"} <= kept and "sybil0" not in kept and "sybil4999" in kept

    now[0] += 100.0  # ten half-lives: every reward has faded
    table.prune(max_peers=1000)
    assert {v.peer_id for v in table.snapshot()} == {"friend", "villain"}
    assert table.is_banned("villain")


def test_the_nodes_receipt_origins_are_bounded_and_pruned_as_rounds_close(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    from dataclasses import replace

    from app.core.crypto import SigningKey
    from app.core.genesis import genesis_to_json
    from app.node.keys import save_key
    from app.node.node import MAX_ORIGINS, Node, NodeConfig
    from tests.node.chainkit import KEYS, genesis
    from tests.node.test_hardening_gossip import head_with_task, receipt

    (tmp_path / "genesis.json").write_text(genesis_to_json(genesis()))
    save_key(tmp_path / "node.key", KEYS[0])
    node = Node(
        NodeConfig(
            datadir=tmp_path / "data",
            genesis_path=tmp_path / "genesis.json",
            key_path=tmp_path / "node.key",
            role="full",
        )
    )
    try:
        state, task_id = head_with_task()
        miner = SigningKey.from_seed(bytes([77]) * 32)
        open_round = receipt(state, task_id, miner, state.task(task_id).checkpoint)  # type: ignore[union-attr]
        node._handle(open_round, "honest-peer")
        junk = receipt(state, os.urandom(32), miner, bytes(32))
        for _ in range(MAX_ORIGINS + 500):  # a flood of receipts for tasks nobody posted
            node._handle(replace(junk, task_id=os.urandom(32)), "flooder")
        assert len(node._origins) == MAX_ORIGINS
        node._handle(open_round, "honest-peer")
        node._prune_origins(state)  # the flood's "tasks" do not exist: all forgotten
        assert dict(node._origins) == {open_round.receipt_id: ("honest-peer", task_id, 0)}
        node._prune_origins(node.chain.state)  # a head where the task's round is not open
        assert not node._origins
    finally:
        node.chain.close()
