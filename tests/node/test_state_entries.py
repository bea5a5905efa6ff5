"""The state-entries protocol between real libp2p hosts, against a real node's chain.

A real chain with tasks posted (tests/core/chainkit.py) is committed by a real `ChainManager`, whose
`state_entries` serves it; a light client verifies the headers (`LightClient.sync`) and checks every
range against the state root of its verified header at the answer's height. A server that drops a
task from the listing sends a well-formed answer, and `verify_range` refuses it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.encoding import encode
from app.core.entryproof import RangeProof, verify_entry_or_absent, verify_range
from app.core.errors import EncodingError, InvalidProof
from app.core.types import BlockHeader
from app.net import limits
from app.net.facade import NetThread
from app.net.host import NetConfig, NetHost
from app.net.messages import RangeQuery, StateEntriesRequest, StateEntriesResponse
from app.net.peers import PeerInfoView
from app.net.protocols import Providers
from app.node.chain import ChainManager
from app.node.light import LightClient
from tests.core.chainkit import Chain


def real_chain(tmp: Path) -> tuple[Chain, ChainManager]:
    chain = Chain()
    chain.advance([chain.post_task(u) for u in chain.users])
    chain.advance([chain.transfer(chain.users[0], chain.users[1].address, 7)])
    manager = ChainManager.open(tmp / "chain.db", chain.genesis)
    for block in chain.blocks[1:]:
        manager.commit(block)
    assert manager.state.state_root == chain.state.state_root and len(manager.state.tasks()) == 3
    return chain, manager


def header_at(client: LightClient, height: int) -> BlockHeader:
    return next(h for h in client.headers.recent if h.height == height)


def test_a_light_client_proves_tasks_accounts_and_absence_from_a_real_node(tmp_path: Path) -> None:
    chain, manager = real_chain(tmp_path)
    user = chain.users[0].address
    stranger = bytes(range(20))

    def drop_a_task(queries: Sequence[tuple[bytes, bytes]], max_bytes: int) -> tuple[int, list[RangeProof]]:
        height, ranges = manager.state_entries(queries, max_bytes)
        lied = [
            dataclasses.replace(r, entries=r.entries[:1] + r.entries[2:]) if r.prefix == b"t" else r for r in ranges
        ]
        return height, lied

    def answer_another(queries: Sequence[tuple[bytes, bytes]], max_bytes: int) -> tuple[int, list[RangeProof]]:
        return manager.state_entries([(b"a", b"")] * len(queries), max_bytes)

    provided = {"honest": manager.state_entries, "liar": drop_a_task, "confused": answer_another}
    servers = {
        name: NetThread(
            NetConfig(chain_id=chain.params.chain_id, key_path=tmp_path / name / "p2p.key"),
            Providers(headers=manager.signed_headers, state_entries=serve),
        )
        for name, serve in provided.items()
    }
    client_net = NetThread(NetConfig(chain_id=chain.params.chain_id, key_path=tmp_path / "light" / "p2p.key"))
    queries = [
        RangeQuery(b"t", b""),  # every task
        RangeQuery(b"a" + user, b""),  # one account
        RangeQuery(b"a" + stranger, b""),  # an account that holds nothing
        RangeQuery(b"r", b""),  # pending rewards: none yet
        RangeQuery(b"m", b""),  # the chain's meta entry
    ]
    try:
        for server in servers.values():
            server.start()
        client_net.start()
        peers = {
            name: client_net.call(lambda h, s=s: h.connect(s.listen_addrs[0]), timeout_s=30)
            for name, s in servers.items()
        }
        client = LightClient(chain.genesis, client_net)
        assert client.sync(peers["honest"]) == manager.height == 2

        resp = client_net.call(lambda h: h.call_state_entries(peers["honest"], queries), timeout_s=30)
        assert resp.height == 2 and len(resp.ranges) == len(queries)
        root = header_at(client, resp.height).state_root
        tasks = verify_range(root, resp.ranges[0])
        assert not tasks.truncated and {k[1:] for k in tasks.entries} == set(manager.state.tasks())
        account = verify_entry_or_absent(root, resp.ranges[1], b"a" + user)
        assert account == manager.state.account(user).encode()
        assert verify_entry_or_absent(root, resp.ranges[2], b"a" + stranger) is None
        assert verify_range(root, resp.ranges[3]).entries == {}
        assert verify_entry_or_absent(root, resp.ranges[4], b"m") is not None

        lie = client_net.call(lambda h: h.call_state_entries(peers["liar"], queries), timeout_s=30)
        assert len(lie.ranges[0].entries) == 2  # well-formed: the stub has nothing to object to
        with pytest.raises(InvalidProof):
            verify_range(header_at(client, lie.height).state_root, lie.ranges[0])
        verify_range(root, lie.ranges[1])  # the ranges it did not touch still verify

        with pytest.raises(Exception, match="wrong thing"):
            client_net.call(lambda h: h.call_state_entries(peers["confused"], queries), timeout_s=30)
        offences = {v.peer_id: v.offences for v in client_net.call(lambda h: _peers(h), timeout_s=10)}
        assert offences[peers["confused"]] == {"bad-response": 1}
    finally:
        client_net.stop()
        for server in servers.values():
            server.stop()
        manager.close()


async def _peers(host: NetHost) -> list[PeerInfoView]:
    return host.peers()


def test_the_provider_pages_within_its_budget(tmp_path: Path) -> None:
    chain, manager = real_chain(tmp_path)
    root = manager.state.state_root
    height, ranges = manager.state_entries([(b"t", b"")] * limits.MAX_STATE_QUERIES, limits.STATE_ENTRIES_BUDGET)
    assert height == 2 and len(ranges) == limits.MAX_STATE_QUERIES
    response = StateEntriesResponse(height=height, ranges=tuple(ranges))
    assert len(response.encode()) <= limits.MAX_RESPONSE_FRAME
    # A tight budget: short pages first, then fewer ranges, never none.
    _, small = manager.state_entries([(b"t", b""), (b"", b"")], 3_000)
    assert 1 <= len(small) <= 2 and all(r.entries for r in small)
    page = verify_range(root, small[0])
    assert page.truncated and page.next_start is not None
    got = dict(page.entries)
    while page.next_start is not None:
        _, (rp,) = manager.state_entries([(b"t", page.next_start)], 3_000)
        page = verify_range(root, rp)
        got |= page.entries
    assert {k[1:] for k in got} == set(manager.state.tasks())
    _, tiny = manager.state_entries([(b"", b"")] * 4, 10)
    assert len(tiny) == 1 and len(tiny[0].entries) == 1
    manager.close()


def test_request_bounds() -> None:
    longest = RangeQuery(bytes(limits.MAX_STATE_QUERY_KEY), bytes(limits.MAX_STATE_QUERY_KEY))
    full = StateEntriesRequest((longest,) * limits.MAX_STATE_QUERIES)
    assert len(full.encode()) <= limits.MAX_REQUEST_FRAME
    assert StateEntriesRequest.decode(full.encode()) == full
    with pytest.raises(EncodingError):
        RangeQuery(bytes(limits.MAX_STATE_QUERY_KEY + 1), b"")
    with pytest.raises(EncodingError):
        StateEntriesRequest((longest,) * (limits.MAX_STATE_QUERIES + 1))
    with pytest.raises(EncodingError):
        StateEntriesRequest(())
    with pytest.raises(EncodingError):
        StateEntriesRequest.decode(encode([StateEntriesRequest.TAG, []]))
