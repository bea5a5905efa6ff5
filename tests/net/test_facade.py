"""The thread-safe facade: plain threads drive two real hosts and receive gossip by callback."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from app.net.errors import IdentityError, ListenError
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
    with pytest.raises(IdentityError, match="not a PoT peer key"):  # the layer's own error, its words intact
        net.start()
    net.stop()


def test_a_taken_port_fails_start_with_a_listen_error_that_says_what_to_do(tmp_path: Path) -> None:
    """libp2p only logs a failed bind and runs on; a host nobody can reach must not start."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        net = NetThread(NetConfig(CHAIN, tmp_path / "a.key", listen_port=port))
        with pytest.raises(ListenError, match=rf"could not listen on 127\.0\.0\.1:{port}.*choose another port"):
            net.start()
        net.stop()
