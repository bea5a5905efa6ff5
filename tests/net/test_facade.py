"""The thread-safe facade: plain threads drive two real hosts and receive gossip by callback."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from app.net.facade import NetThread
from app.net.host import GossipMessage, NetConfig
from app.net.topics import TopicKind
from tests.net.netutil import CHAIN, make_block


def test_submit_publish_and_callback_delivery(tmp_path: Path) -> None:
    received: list[GossipMessage] = []
    arrived = threading.Event()

    def on_gossip(message: GossipMessage) -> None:
        assert threading.current_thread().name == "pot-net-gossip"
        received.append(message)
        arrived.set()

    a = NetThread(NetConfig(CHAIN, tmp_path / "a.key", heartbeat_s=0.2))
    b = NetThread(NetConfig(CHAIN, tmp_path / "b.key", heartbeat_s=0.2), on_gossip=on_gossip)
    a.start()
    b.start()
    try:
        assert b.call(lambda h: h.connect(a.listen_addrs[0])) == a.peer_id
        a.call(lambda h: h.wait_for_mesh(TopicKind.BLOCKS))
        a.call(lambda h: h.publish(make_block(2)))
        assert arrived.wait(15)
        assert received[0].record == make_block(2) and received[0].origin == a.peer_id

        async def boom(host):  # type: ignore[no-untyped-def]
            raise ValueError("from the loop")

        with pytest.raises(ValueError, match="from the loop"):
            a.call(boom)
    finally:
        a.stop()
        b.stop()
    with pytest.raises(RuntimeError):
        a.call(lambda h: h.wait_for_mesh(TopicKind.BLOCKS))


def test_a_bad_config_fails_start_with_the_reason(tmp_path: Path) -> None:
    key = tmp_path / "p2p.key"
    key.write_bytes(b"not a key")
    key.chmod(0o600)
    net = NetThread(NetConfig(CHAIN, key))
    with pytest.raises(RuntimeError, match="not a PoT peer key"):
        net.start()
    net.stop()
