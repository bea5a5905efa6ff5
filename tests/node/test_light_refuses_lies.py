"""A full node that lies about a balance: the light client refuses its answer and asks another peer.

Real certified chain (tests/node/chainkit.py), real libp2p hosts in one process: both full nodes serve
the same real headers; the liar serves the account proof with the balance raised (a well-formed record
that no verified header's state root backs), the honest one the real proof."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from app.core.accounts import Account, AccountProof
from app.core.errors import InvalidProof
from app.core.types import SignedHeader
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.protocols import Providers
from app.node.light import LightClient
from tests.node.chainkit import USER, chain


def lie(encoded: bytes) -> bytes:
    proof = AccountProof.decode(encoded)
    account = Account.decode(proof.value)
    forged = dataclasses.replace(account, balance=account.balance + 10**15)
    return dataclasses.replace(proof, value=forged.encode()).encode()


def test_a_lie_about_a_balance_is_refused_and_another_peer_asked(tmp_path: Path) -> None:
    genesis, blocks, state = chain(6)
    signed = [SignedHeader(header=b.header, qc=b.qc) for b in blocks]

    def headers(start: int, count: int) -> list[SignedHeader]:
        return [s for s in signed if start <= s.header.height < start + count]

    honest_proof = state.prove_account(USER.address).encode()
    assert AccountProof.decode(lie(honest_proof)).value != AccountProof.decode(honest_proof).value
    servers = {
        name: NetThread(
            NetConfig(chain_id=genesis.params.chain_id, key_path=tmp_path / name / "p2p.key"),
            Providers(headers=headers, state_proof=serve),
        )
        for name, serve in (("liar", lambda a: lie(honest_proof)), ("honest", lambda a: honest_proof))
    }
    client_net = NetThread(NetConfig(chain_id=genesis.params.chain_id, key_path=tmp_path / "light" / "p2p.key"))
    try:
        for server in servers.values():
            server.start()
        client_net.start()
        liar, honest = (
            client_net.call(lambda h, s=s: h.connect(s.listen_addrs[0]), timeout_s=30) for s in servers.values()
        )
        client = LightClient(genesis, client_net)
        answer = client.prove_any([liar, honest], USER.address)
        assert answer.peer == honest and answer.account.balance == state.account(USER.address).balance
        assert [p for p, _ in answer.refused] == [liar] and "matches no verified header" in answer.refused[0][1]
        assert answer.header.state_root == state.state_root and client.headers.height == 6
        with pytest.raises(InvalidProof, match="no peer gave a proven answer"):
            LightClient(genesis, client_net).prove_any([liar], USER.address)
    finally:
        client_net.stop()
        for server in servers.values():
            server.stop()
