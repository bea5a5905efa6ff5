"""A block is relayed only once its certificate is checked (issue 15: the block path).

The cheat: a peer gossips a final-looking block whose QC is forged (non-members' signatures), too thin
(below quorum) or lifted from another block. Before, any block carrying a QC was ACCEPTed and relayed by
every node to every node; now the node's gossip check verifies the QC against the committee of the next
height: a forged one is the sender's fault (REJECT), a block for another height cannot be checked and is
left to sync (IGNORE, not relayed). Real hosts in a line (watcher - node - attacker) show what travels.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from app.core.builder import build_block
from app.core.consensus import make_qc
from app.core.crypto import SigningKey
from app.core.errors import InvalidQuorumCertificate
from app.core.genesis import genesis_block
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, Block, Vote
from app.core.validation import leader
from app.net.host import GossipMessage, NetConfig, NetHost
from app.net.topics import TopicKind
from app.net.validators import Verdict
from app.node import gossip
from tests.integration.hostile import _raw_publish
from tests.node.chainkit import certify, chain, genesis


def forged_blocks() -> tuple[Block, dict[str, Block], Block]:
    """The honest next block, the forgeries of it, and a valid block two heights on."""
    _, blocks, _ = chain(2)
    _, state = genesis_block(genesis())
    good = blocks[0]
    strangers = [SigningKey.generate() for _ in range(4)]
    stranger_votes = [
        Vote(
            chain_id=state.chain_id,
            height=1,
            view=good.header.view,
            kind=VOTE_PRECOMMIT,
            block_hash=good.block_hash,
            voter=k.public_key,
            signature=NO_SIGNATURE,
        ).signed_by(k)
        for k in strangers
    ]
    other = build_block(state, leader(state.next_committee, 1, 0), timestamp_ms=99_999).block
    assert other.block_hash != good.block_hash
    forgeries = {
        "non-members signed it": good.replace(qc=make_qc(stranger_votes)),
        "below quorum": certify(state, good.replace(qc=None), signers=state.next_committee.quorum - 1),
        "lifted from another block": other.replace(qc=good.qc),
    }
    return good, forgeries, blocks[1]


def test_the_gossip_check_verifies_the_certificate_of_the_next_block() -> None:
    _, state = genesis_block(genesis())
    check = gossip.make_validator(lambda: state)
    good, forgeries, later = forged_blocks()
    assert check("peer", good) is Verdict.ACCEPT
    for why, block in forgeries.items():
        with pytest.raises(InvalidQuorumCertificate):  # raised: the host REJECTs and blames the sender
            check("peer", block)
            pytest.fail(f"a block whose QC was {why} passed")
    assert check("peer", later) is Verdict.IGNORE  # height 2 on a genesis head: not checkable, not relayed
    assert check("peer", good.replace(qc=None)) is Verdict.REJECT


def test_forged_certificates_are_not_relayed_and_cost_the_sender(tmp_path: Path) -> None:
    _, state = genesis_block(genesis())
    good, forgeries, later = forged_blocks()
    outcome: dict = {}

    async def main() -> None:
        seen: list[bytes] = []

        async def on_block(message: GossipMessage) -> None:
            seen.append(message.record.block_hash)  # type: ignore[union-attr]

        async with AsyncExitStack() as stack:
            hosts = []
            for name in ("watcher", "node", "attacker"):
                cfg = NetConfig(chain_id=state.chain_id, key_path=tmp_path / name / "p2p.key", heartbeat_s=0.2)
                hosts.append(await stack.enter_async_context(NetHost.open(cfg)))
            watcher, node, attacker = hosts
            node.set_validator(TopicKind.BLOCKS, gossip.make_validator(lambda: state))
            watcher.subscribe(TopicKind.BLOCKS, on_block)
            await node.connect(watcher.listen_addrs[0])
            await attacker.connect(node.listen_addrs[0])
            await attacker.wait_for_mesh(TopicKind.BLOCKS, 1, 20)
            await watcher.wait_for_mesh(TopicKind.BLOCKS, 1, 20)
            for block in [*forgeries.values(), later, good]:
                await _raw_publish(attacker, TopicKind.BLOCKS, block.encode())
                await trio.sleep(0.05)
            with trio.move_on_after(15):
                while good.block_hash not in seen:
                    await trio.sleep(0.05)
            await trio.sleep(1.0)  # anything relayed with it has arrived too
            offences = {v.peer_id: v.offences for v in node.peers()}.get(attacker.peer_id, {})
            outcome.update(seen=list(seen), offences=offences)

    trio.run(main)
    assert outcome["seen"] == [good.block_hash]  # only the honest block travelled on
    assert sum(outcome["offences"].values()) >= len(forgeries)  # each forgery was blamed on its sender
