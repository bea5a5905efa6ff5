"""Real libp2p hosts on 127.0.0.1: gossip reaches everyone; garbage and floods get the sender banned."""

from __future__ import annotations

from pathlib import Path

import trio

from app.core.encoding import encode
from app.net import limits
from app.net.host import MAINTENANCE_INTERVAL_S, GossipMessage, NetHost
from app.net.peers import ScorePolicy
from app.net.topics import TopicKind, topic_name
from app.net.validators import Verdict
from tests.net.netutil import make_block, make_transfer, make_vote, swarm, wait_until


def collect(host: NetHost, kind: TopicKind) -> list[GossipMessage]:
    got: list[GossipMessage] = []

    async def on(message: GossipMessage) -> None:
        got.append(message)

    host.subscribe(kind, on)
    return got


async def raw_publish(host: NetHost, kind: TopicKind, data: bytes) -> None:
    """Publish bytes as a hostile peer would: its own validation switched off."""
    topic = topic_name(host.chain_id, kind)
    host._pubsub.remove_topic_validator(topic)
    await host._pubsub.publish(topic, data)


def test_a_block_reaches_all_four_hosts(tmp_path: Path) -> None:
    async def main() -> None:
        async with swarm(tmp_path, 4) as hosts:
            inboxes = [collect(h, TopicKind.BLOCKS) for h in hosts]
            await hosts[0].wait_for_mesh(TopicKind.BLOCKS)
            block = make_block(7)
            await hosts[0].publish(block)
            await wait_until(lambda: all(inboxes[1:]), what="the block on every host")
            for inbox in inboxes[1:]:
                assert [m.record for m in inbox] == [block]
                assert inbox[0].origin == hosts[0].peer_id
            assert inboxes[0] == []  # the publisher is not told of its own message

    trio.run(main)


def test_semantic_reject_stops_relay_and_costs_the_sender(tmp_path: Path) -> None:
    async def main() -> None:
        async with swarm(tmp_path, 3) as hosts:
            a, b, c = hosts
            inbox_b, inbox_c = collect(b, TopicKind.TXS), collect(c, TopicKind.TXS)
            b.set_validator(TopicKind.TXS, lambda peer, tx: Verdict.REJECT if tx.nonce == 666 else Verdict.ACCEPT)
            await a.wait_for_mesh(TopicKind.TXS)
            await b.wait_for_mesh(TopicKind.TXS)
            await raw_publish(a, TopicKind.TXS, make_transfer(nonce=666).encode())
            await a.publish(make_transfer(nonce=1))
            await wait_until(lambda: inbox_c, what="the valid transfer at c")
            assert [m.record.nonce for m in inbox_b] == [1]
            assert [m.record.nonce for m in inbox_c] == [1]  # the rejected one was never relayed
            view = {v.peer_id: v for v in b.peers()}[a.peer_id]
            assert view.offences == {"invalid-gossip": 1}

    trio.run(main)


def test_flooding_garbage_and_oversized_gets_banned_and_nothing_is_delivered(tmp_path: Path) -> None:
    policy = ScorePolicy(ban_seconds=4.0)

    async def main() -> None:
        async with swarm(tmp_path, 3, configure=lambda i: {"score_policy": policy}) as hosts:
            honest, victim, attacker = hosts  # a line: honest <- victim <- attacker
            inboxes = {k: collect(victim, k) for k in TopicKind}
            far = {k: collect(honest, k) for k in TopicKind}
            await attacker.wait_for_mesh(TopicKind.VOTES)
            await attacker.wait_for_mesh(TopicKind.BLOCKS)
            for i in range(4):
                await raw_publish(attacker, TopicKind.VOTES, encode(["garbage", i]))
            for _ in range(3):
                await raw_publish(attacker, TopicKind.VOTES, b"\x00" * (limits.GOSSIP_MAX_VOTE + 100))
            await wait_until(lambda: victim.peer_table.is_banned(attacker.peer_id), what="the ban")
            await wait_until(lambda: not victim.is_connected(attacker.peer_id), what="the disconnect")

            # Reconnecting during the ban: the connection is cut and its gossip never delivered.
            try:
                await attacker.connect(victim.listen_addrs[0])
            except Exception:
                pass
            await raw_publish(attacker, TopicKind.VOTES, make_vote(height=99).encode())
            await wait_until(lambda: not victim.is_connected(attacker.peer_id), what="the refused reconnect")
            await wait_until(lambda: not attacker.is_connected(victim.peer_id), what="the attacker to see the cut")
            assert all(not box for box in inboxes.values())
            assert all(not box for box in far.values())
            offences = {v.peer_id: v.offences for v in victim.peers()}[attacker.peer_id]
            assert offences["oversized"] >= 1 and offences["invalid-gossip"] >= 1

            # Once the ban ends the peer may come back: the connection is kept this time.
            await wait_until(lambda: not victim.peer_table.is_banned(attacker.peer_id), timeout_s=10, what="ban expiry")
            await attacker.connect(victim.listen_addrs[0])
            await wait_until(lambda: victim.is_connected(attacker.peer_id), what="the reconnect")
            await trio.sleep(3 * MAINTENANCE_INTERVAL_S)  # the ban gate runs every interval
            assert victim.is_connected(attacker.peer_id)
            assert {v.peer_id: v.score for v in victim.peers()}[attacker.peer_id] == 0.0

    trio.run(main)
