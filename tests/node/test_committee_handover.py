"""A light client follows a committee hand-over whose new members it cannot derive from headers.

Real chain, real libp2p hosts in one process: a member is slashed for double voting, so the committee
of the next epoch loses it; the first QC of the new epoch carries only a quorum (3 of 4), so the
signers do not name the whole committee. The light client must fetch the Committee record by hash
from the full node and check it against the header's next_committee_hash.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import trio

from app.core.builder import build_block
from app.core.consensus import make_qc
from app.core.crypto import SigningKey
from app.core.genesis import genesis_block, make_devnet_genesis
from app.core.params import DEVNET
from app.core.types import NO_SIGNATURE, VOTE_PRECOMMIT, VOTE_PREVOTE, Block, Committee, Evidence, SignedHeader, Vote
from app.core.validation import leader
from app.net.facade import NetThread
from app.net.host import NetConfig, NetHost
from app.net.protocols import Providers
from app.node.committees import PROTOCOL_NAME, CommitteeBook, CommitteeRequest, CommitteeResponse
from app.node.headers import HeaderChain, HeaderChainError, UnknownCommittee
from app.node.light import LightClient

PARAMS = dataclasses.replace(DEVNET, chain_id="pot-handover", epoch_length=4, committee_size=8)
KEYS = [SigningKey.from_seed(bytes([60 + i]) * 32) for i in range(5)]
BY_PUBLIC = {k.public_key: k for k in KEYS}
CULPRIT = KEYS[4]


def _certify(state, block: Block) -> Block:  # type: ignore[no-untyped-def]
    committee = state.next_committee
    signers = list(committee.members)[: committee.quorum]  # a bare quorum, not every member
    votes = [
        Vote(
            chain_id=PARAMS.chain_id,
            height=block.header.height,
            view=0,
            kind=VOTE_PRECOMMIT,
            block_hash=block.block_hash,
            voter=pk,
            signature=NO_SIGNATURE,
        ).signed_by(BY_PUBLIC[pk])
        for pk in signers
    ]
    return block.replace(qc=make_qc(votes))


def _double_vote() -> Evidence:
    a, b = (
        Vote(
            chain_id=PARAMS.chain_id,
            height=1,
            view=0,
            kind=VOTE_PREVOTE,
            block_hash=bytes([fill]) * 32,
            voter=CULPRIT.public_key,
            signature=NO_SIGNATURE,
        ).signed_by(CULPRIT)
        for fill in (1, 2)
    )
    return Evidence(vote_a=a, vote_b=b)


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    genesis = make_devnet_genesis([k.public_key for k in KEYS], {}, params=PARAMS, timestamp_ms=1_000)
    _, state = genesis_block(genesis)
    blocks, committees = [], CommitteeBook()
    committees.add(state.next_committee)
    for height in range(1, 10):
        evidence = [_double_vote()] if height == 2 else []
        built = build_block(
            state, leader(state.next_committee, height, 0), timestamp_ms=1_000 + 1_000 * height, evidence=evidence
        )
        assert not built.rejected
        blocks.append(_certify(state, built.block))
        state = built.state
        committees.add(state.next_committee)
    return genesis, blocks, committees


def test_the_changed_committee_cannot_be_derived_from_the_next_qc(chain) -> None:  # type: ignore[no-untyped-def]
    genesis, blocks, _ = chain
    headers = HeaderChain(genesis)
    with pytest.raises(UnknownCommittee):
        for block in blocks:
            headers.extend(SignedHeader(header=block.header, qc=block.qc))
    assert headers.pending_committee_hash is not None and CULPRIT.public_key in headers.committee.members


def test_a_served_committee_is_checked_against_the_announced_hash(chain) -> None:  # type: ignore[no-untyped-def]
    genesis, blocks, committees = chain
    headers = HeaderChain(genesis)
    for block in blocks[:3]:  # up to the epoch's last block, which announces the next committee
        headers.extend(SignedHeader(header=block.header, qc=block.qc))
    announced = headers.pending_committee_hash
    assert announced is not None
    forged = Committee(epoch=1, members=tuple(KEYS[i].public_key for i in range(4)))
    with pytest.raises(HeaderChainError, match="does not hash"):
        headers.adopt_committee(dataclasses.replace(forged, members=forged.members[:3]))
    headers.adopt_committee(committees.get(announced))
    assert CULPRIT.public_key not in headers.committee.members and len(headers.committee.members) == 4


def test_a_light_client_fetches_the_committee_from_a_full_node(chain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    genesis, blocks, committees = chain
    signed = [SignedHeader(header=b.header, qc=b.qc) for b in blocks]

    def headers_provider(start: int, count: int) -> list[SignedHeader]:
        return [s for s in signed if start <= s.header.height < start + count]

    async def serve_committee(peer: str, req: CommitteeRequest) -> CommitteeResponse:
        return CommitteeResponse(committee=committees.get(req.committee_hash))

    addr: list[str] = []
    server = NetThread(
        NetConfig(chain_id=PARAMS.chain_id, key_path=tmp_path / "full" / "p2p.key"), Providers(headers=headers_provider)
    )
    server.start()
    client_net = NetThread(NetConfig(chain_id=PARAMS.chain_id, key_path=tmp_path / "light" / "p2p.key"))
    try:
        server.call(lambda h: _serve(h, serve_committee))
        addr.extend(server.listen_addrs)
        client_net.start()
        peer = client_net.call(lambda h: h.connect(addr[0]), timeout_s=30)
        client = LightClient(genesis, client_net)
        assert client.sync(peer) == blocks[-1].header.height
        assert client.fetched_committees == 1
        assert client.headers.committee.epoch == 2 and CULPRIT.public_key not in client.headers.committee.members
    finally:
        client_net.stop()
        server.stop()


async def _serve(host: NetHost, handler) -> None:  # type: ignore[no-untyped-def]
    host.serve(PROTOCOL_NAME, CommitteeRequest, handler)


def test_a_node_serves_the_committees_its_chain_elected_across_restarts(tmp_path: Path) -> None:
    from app.core.genesis import genesis_to_json
    from app.net.messages import ErrorResponse
    from app.node.keys import save_key
    from app.node.node import COMMITTEES_DIR, Node, NodeConfig

    genesis = make_devnet_genesis([k.public_key for k in KEYS], {}, params=PARAMS, timestamp_ms=1_000)
    (tmp_path / "genesis.json").write_text(genesis_to_json(genesis))
    save_key(tmp_path / "node.key", KEYS[0])
    config = NodeConfig(
        datadir=tmp_path / "data", genesis_path=tmp_path / "genesis.json", key_path=tmp_path / "node.key", role="full"
    )
    node = Node(config)
    try:
        committee = node.chain.state.next_committee
        answer = trio.run(node._serve_committee, "peer", CommitteeRequest(committee.committee_hash))
        assert isinstance(answer, CommitteeResponse) and answer.committee == committee
        missing = trio.run(node._serve_committee, "peer", CommitteeRequest(b"\x01" * 32))
        assert isinstance(missing, ErrorResponse) and missing.code == "not-found"
    finally:
        node.chain.close()
    assert CommitteeBook(config.datadir / COMMITTEES_DIR).get(committee.committee_hash) == committee
