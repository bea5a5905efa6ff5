"""The light client's header chain: accepts a real certified chain, refuses each broken link."""

from __future__ import annotations

import pytest

from app.core.errors import InvalidQuorumCertificate
from app.core.types import SignedHeader
from app.node.headers import HeaderChain, HeaderChainError
from tests.node.chainkit import certify, chain


def signed(block) -> SignedHeader:  # type: ignore[no-untyped-def]
    return SignedHeader(header=block.header, qc=block.qc)


def test_follows_a_certified_chain_across_an_epoch_hand_over() -> None:
    g, blocks, state = chain(25)  # devnet epochs are 20 blocks
    hc = HeaderChain(g)
    for b in blocks:
        hc.extend(signed(b))
    assert hc.height == 25 and hc.head.block_hash == state.head_hash
    assert hc.committee.committee_hash == state.next_committee.committee_hash


@pytest.mark.parametrize("breakage", ["no-qc", "skip", "short-qc", "foreign-qc"])
def test_refuses_a_broken_header(breakage: str) -> None:
    g, blocks, _ = chain(3)
    hc = HeaderChain(g)
    hc.extend(signed(blocks[0]))
    nxt = blocks[1]
    if breakage == "no-qc":
        bad = SignedHeader(header=nxt.header, qc=None)
    elif breakage == "skip":
        bad = signed(blocks[2])
    elif breakage == "short-qc":
        bad = SignedHeader(header=nxt.header, qc=nxt.qc.replace(signatures=nxt.qc.signatures[:2]))
    else:
        bad = SignedHeader(header=nxt.header, qc=blocks[0].qc)
    with pytest.raises((HeaderChainError, InvalidQuorumCertificate)):
        hc.extend(bad)
    assert hc.height == 1
    hc.extend(signed(nxt))  # the honest header is still accepted
    assert hc.height == 2


def test_all_four_signatures_are_also_accepted() -> None:
    g, blocks, _ = chain(1)
    _, state0 = __import__("app.core.genesis", fromlist=["genesis_block"]).genesis_block(g)
    full = certify(state0, blocks[0].replace(qc=None), signers=4)
    hc = HeaderChain(g)
    hc.extend(signed(full))
    assert hc.height == 1
