"""Bootstrap dialing on real hosts (the backoff rule itself is tested in test_peers)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import trio

from app.net.host import NetConfig, NetHost
from tests.net.netutil import CHAIN, wait_until


def test_bootstrap_peer_is_dialed_on_start(tmp_path: Path) -> None:
    async def main() -> None:
        async with AsyncExitStack() as stack:
            seed = await stack.enter_async_context(NetHost.open(NetConfig(CHAIN, tmp_path / "seed.key")))
            cfg = NetConfig(CHAIN, tmp_path / "n.key", bootstrap=(seed.listen_addrs[0],), discovery_interval_s=0.2)
            node = await stack.enter_async_context(NetHost.open(cfg))
            await wait_until(lambda: node.is_connected(seed.peer_id), what="the bootstrap connection")
            assert node.peer_id in seed.connected_peers()

    trio.run(main)


def test_bad_bootstrap_address_is_refused_at_config() -> None:
    import pytest

    with pytest.raises(ValueError, match="/p2p/"):
        NetConfig(CHAIN, Path("k"), bootstrap=("/ip4/127.0.0.1/tcp/1",))
