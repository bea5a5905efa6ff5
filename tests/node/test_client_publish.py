"""The short-lived client's message arrives: it stays until the message leaves, then disconnects.

Before, `client.publish` stopped its host as soon as py-libp2p queued the message, and most posts were lost
(0 of 8 on loopback): a devnet's task post waited 15 s and posted again, and on a slow machine ran out of
attempts ("the task post never reached the chain", a CI failure).
"""

from __future__ import annotations

import threading
from pathlib import Path

from app.net.facade import NetThread
from app.net.host import GossipMessage, NetConfig
from app.node import client
from tests.net.netutil import CHAIN, make_block


def test_every_post_of_a_fresh_client_is_delivered(tmp_path: Path) -> None:
    heights: list[int] = []
    arrived = threading.Event()

    def on_gossip(message: GossipMessage) -> None:
        heights.append(message.record.header.height)  # type: ignore[union-attr]
        arrived.set()

    receiver = NetThread(NetConfig(CHAIN, tmp_path / "receiver.key", heartbeat_s=1.0), on_gossip=on_gossip)
    receiver.start()
    try:
        for i in range(5):  # a fresh identity each time, as the devnet's requester posts
            arrived.clear()
            client.publish(CHAIN, receiver.listen_addrs, [make_block(100 + i)], tmp_path / f"client-{i}.key")
            assert arrived.wait(5), f"post {i} was lost"
    finally:
        receiver.stop()
    assert heights == [100, 101, 102, 103, 104]
