"""Issue 17 row 5: private by default, and nothing advertises 0.0.0.0.

Before: the daemon's default `[network]` listened on 0.0.0.0 (anyone on the LAN could join) and the
host advertised `/ip4/0.0.0.0/...`; `mdns = true` did nothing (the setting is gone now).
"""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

import multiaddr
import trio

from app import config as cfg
from app.core.genesis import genesis_to_json
from app.daemon.node_setup import build_node
from app.net.addrs import concrete, interface_ipv4
from app.net.host import NetConfig, NetHost
from tests.node.chainkit import genesis


def test_the_default_network_settings_listen_on_loopback_and_offer_no_dead_mdns_switch(tmp_path: Path) -> None:
    network = cfg.Config().network
    assert network.listen == ["/ip4/127.0.0.1/tcp/0"]
    assert "mdns" not in {f.name for f in fields(network)}
    (tmp_path / "genesis.json").write_text(genesis_to_json(genesis()))
    options = argparse.Namespace(listen=None, bootstrap=[], genesis=tmp_path / "genesis.json", block_interval_s=1.0)
    node = build_node(cfg.Config(), tmp_path / "node", options)
    try:
        assert node.config.listen_host == "127.0.0.1"
    finally:
        node.chain.close()


def test_unspecified_listen_addresses_become_interface_addresses() -> None:
    got = concrete(
        [multiaddr.Multiaddr("/ip4/0.0.0.0/tcp/4001"), multiaddr.Multiaddr("/ip4/10.1.2.3/tcp/9")],
        ["192.168.1.5", "127.0.0.1"],
    )
    assert [str(a) for a in got] == ["/ip4/192.168.1.5/tcp/4001", "/ip4/127.0.0.1/tcp/4001", "/ip4/10.1.2.3/tcp/9"]
    assert "127.0.0.1" in interface_ipv4()


def test_a_host_listening_on_all_interfaces_advertises_dialable_addresses(tmp_path: Path) -> None:
    result: dict[str, object] = {}

    async def main() -> None:
        wide = NetConfig(chain_id="testnet", key_path=tmp_path / "a" / "p2p.key", listen_host="0.0.0.0")
        async with (
            NetHost.open(wide) as a,
            NetHost.open(NetConfig(chain_id="testnet", key_path=tmp_path / "b" / "p2p.key")) as b,
        ):
            result["addrs"] = a.listen_addrs
            loopback = next(x for x in a.listen_addrs if x.startswith("/ip4/127.0.0.1/"))
            result["peer"] = await b.connect(loopback)
            result["a"] = a.peer_id

    trio.run(main)
    addrs = result["addrs"]
    assert addrs and not any("0.0.0.0" in str(x) for x in addrs)  # type: ignore[union-attr]
    assert {str(x).split("/")[2] for x in addrs} == set(interface_ipv4())  # type: ignore[union-attr]
    assert result["peer"] == result["a"]
