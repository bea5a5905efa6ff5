"""A peer that was down when dialed is reachable the moment it listens again.

py-libp2p keeps a peer whose addresses all failed in a 60 s "negative cache" and refuses to dial it: a
validator restarted after a crash stayed unreachable for a minute to every node that had tried it while
it was down (the devnet's restarted-miner test spent 60 s waiting on exactly that). Our dials are paced
by the dialer's own retry delays, so the host lifts that block before each one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.net.errors import RequestFailed
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.identity import load_or_create_identity, peer_id_of
from app.node.devnet import free_port
from tests.net.netutil import CHAIN


def test_a_peer_down_at_the_first_dial_is_reached_at_the_next_once_it_listens(tmp_path: Path) -> None:
    port = free_port()
    address = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(load_or_create_identity(tmp_path / 'b.key'))}"
    a = NetThread(NetConfig(CHAIN, tmp_path / "a.key"))
    a.start()
    try:
        with pytest.raises(RequestFailed):  # nobody listens there yet
            a.call(lambda h: h.connect(address), timeout_s=15)
        b = NetThread(NetConfig(CHAIN, tmp_path / "b.key", listen_port=port))
        b.start()
        try:
            assert a.call(lambda h: h.connect(address), timeout_s=15) == b.peer_id  # at once, not in a minute
        finally:
            b.stop()
    finally:
        a.stop()
