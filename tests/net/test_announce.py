"""A host behind a forwarder announces the forwarder's address, so peers never learn the private one.

Peers add what identify tells them to their peer store and redial from it: a host that advertised its real
listener would let them go around the forwarder (the rehearsal's WAN relay, a port mapping) on a redial.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import trio
from libp2p.peer.id import ID

from app.net.addrs import parse_announce
from app.net.host import NetConfig, NetHost
from app.net.wan_relay import LinkProfile, RelaySpec, relay_in_thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_peers_learn_only_the_announced_address(tmp_path: Path) -> None:
    private, public = _free_port(), _free_port()
    spec = RelaySpec("a", ("127.0.0.1", public), ("127.0.0.1", private), LinkProfile(0.0))
    result: dict[str, object] = {}

    async def main() -> None:
        a_config = NetConfig(
            chain_id="testnet",
            key_path=tmp_path / "a" / "p2p.key",
            listen_port=private,
            announce=(f"/ip4/127.0.0.1/tcp/{public}",),
        )
        async with (
            NetHost.open(a_config) as a,
            NetHost.open(NetConfig(chain_id="testnet", key_path=tmp_path / "b" / "p2p.key")) as b,
        ):
            result["announced"] = a.listen_addrs
            await b.connect(f"/ip4/127.0.0.1/tcp/{public}/p2p/{a.peer_id}")
            with trio.move_on_after(10):  # identify runs in the background after the connection
                while not b._host.get_peerstore().supports_protocols(ID.from_base58(a.peer_id), ["/ipfs/id/1.0.0"]):
                    await trio.sleep(0.1)
            result["learned"] = {str(x) for x in b._host.get_peerstore().addrs(ID.from_base58(a.peer_id))}

    with relay_in_thread([spec]):
        trio.run(main)
    assert [x.split("/p2p/")[0] for x in result["announced"]] == [f"/ip4/127.0.0.1/tcp/{public}"]  # type: ignore[attr-defined]
    learned = result["learned"]
    assert any(f"/tcp/{public}" in x for x in learned) and all(f"/tcp/{private}" not in x for x in learned)  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["/ip4/0.0.0.0/tcp/4001", "/ip4/1.2.3.4/tcp/x", "/dns/example.org/tcp/1"])
def test_an_undialable_announce_address_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="announce address"):
        parse_announce(bad)
    with pytest.raises(ValueError, match="announce address"):
        NetConfig(chain_id="testnet", key_path=tmp_path / "k", announce=(bad,))
