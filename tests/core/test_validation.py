"""Block validation: a valid block passes, and each broken rule is refused with its own error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.core.builder import build_block
from app.core.errors import (
    BlockTooLarge,
    InsufficientFunds,
    InvalidQuorumCertificate,
    WrongChain,
    WrongPreviousHash,
    WrongStateRoot,
)
from app.core.types import Block, QuorumCert, VoteSignature
from app.core.validation import (
    BadTimestamp,
    WrongBodyRoot,
    WrongEpoch,
    WrongHeight,
    WrongNextCommittee,
    WrongProposer,
    body_roots,
    leader,
    validate_block,
)
from app.core.validators import InvalidEvidence
from tests.core.chainkit import PARAMS, Chain, key

RECIPIENT = b"\x05" * 20


@pytest.fixture
def chain() -> Chain:
    chain = Chain()
    chain.advance([chain.transfer(chain.users[0], RECIPIENT, 10)])
    return chain


def _proposal(chain: Chain) -> Block:
    return chain.build([chain.transfer(chain.users[1], RECIPIENT, 20)]).block


def test_a_built_block_with_its_qc_is_valid_and_produces_the_built_state(chain: Chain) -> None:
    built = chain.build([chain.transfer(chain.users[1], RECIPIENT, 20)])
    block = built.block.replace(qc=chain.qc(built.block))
    state = validate_block(chain.state, block)
    assert state.entries() == built.state.entries()
    assert state.head_hash == block.block_hash and state.height == chain.state.height + 1


def test_a_proposal_validates_without_qc_only_when_asked(chain: Chain) -> None:
    block = _proposal(chain)
    validate_block(chain.state, block, require_qc=False)
    with pytest.raises(InvalidQuorumCertificate, match="no quorum"):
        validate_block(chain.state, block)


HeaderChange = Callable[[Chain, Block], Block]


def _header(**changes: object) -> HeaderChange:
    return lambda chain, block: block.replace(header=block.header.replace(**changes))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (_header(chain_id="other-chain"), WrongChain),
        (_header(height=3), WrongHeight),
        (_header(prev_hash=b"\x01" * 32), WrongPreviousHash),
        (_header(epoch=1), WrongEpoch),
        (lambda c, b: b.replace(header=b.header.replace(timestamp_ms=c.state.timestamp_ms)), BadTimestamp),
        (lambda c, b: b.replace(header=b.header.replace(view=1)), WrongProposer),
        (_header(txs_root=b"\x01" * 32), WrongBodyRoot),
        (_header(rewards_root=b"\x01" * 32), WrongBodyRoot),
        (_header(state_root=b"\x01" * 32), WrongStateRoot),
        (_header(next_committee_hash=b"\x01" * 32), WrongNextCommittee),
        (lambda c, b: b.replace(body=b.body.replace(transactions=())), WrongBodyRoot),
    ],
    ids=[
        "chain-id",
        "height",
        "previous-hash",
        "epoch",
        "timestamp-not-after-parent",
        "proposer-not-leader",
        "txs-root",
        "rewards-root",
        "state-root",
        "next-committee",
        "body-swapped",
    ],
)
def test_each_broken_header_rule_has_its_error(chain: Chain, change: HeaderChange, error: type) -> None:
    block = change(chain, _proposal(chain))
    with pytest.raises(error):
        validate_block(chain.state, block, require_qc=False)


def test_a_timestamp_too_far_ahead_of_the_local_clock_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    now = block.header.timestamp_ms - PARAMS.max_clock_drift_ms - 1
    with pytest.raises(BadTimestamp, match="ahead"):
        validate_block(chain.state, block, require_qc=False, now_ms=now)
    validate_block(chain.state, block, require_qc=False, now_ms=now + 1)


def test_an_invalid_transaction_makes_the_block_invalid(chain: Chain) -> None:
    block = _proposal(chain)
    overspend = chain.transfer(chain.users[2], RECIPIENT, 10**12)
    body = block.body.replace(transactions=block.body.transactions + (overspend,))
    header = block.header.replace(txs_root=body_roots(body).txs_root)
    with pytest.raises(InsufficientFunds):
        validate_block(chain.state, Block(header, body, None), require_qc=False)


def test_an_oversized_block_is_refused() -> None:
    small = Chain(params=PARAMS.replace(max_block_bytes=4096))
    txs = [small.transfer(small.users[0], RECIPIENT, 1) for _ in range(40)]
    built = small.build(txs)
    assert built.left_out and len(built.block.body.transactions) + len(built.left_out) == 40
    validate_block(small.state, built.block, require_qc=False)
    body = built.block.body.replace(transactions=tuple(txs))
    header = built.block.header.replace(txs_root=body_roots(body).txs_root)
    with pytest.raises(BlockTooLarge):
        validate_block(small.state, Block(header, body, None), require_qc=False)


# --------------------------------------------------------------------------- quorum certificates


def _with_signatures(chain: Chain, block: Block, sigs: list[VoteSignature]) -> Block:
    qc = chain.qc(block)
    return block.replace(qc=QuorumCert(qc.chain_id, qc.height, qc.view, qc.block_hash, tuple(sigs)))


def _sigs(chain: Chain, block: Block, signers: list) -> list[VoteSignature]:  # type: ignore[type-arg]
    return list(chain.qc(block, signers).signatures)


def test_qc_with_too_few_signatures_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    sigs = _sigs(chain, block, chain.validators[:2])  # quorum of 4 is 3
    with pytest.raises(InvalidQuorumCertificate, match="quorum"):
        validate_block(chain.state, _with_signatures(chain, block, sigs))


def test_qc_with_a_duplicate_signature_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    sigs = _sigs(chain, block, chain.validators[:2])
    with pytest.raises(InvalidQuorumCertificate, match="duplicate"):
        validate_block(chain.state, _with_signatures(chain, block, sigs + sigs[:1]))


def test_qc_with_a_foreign_signer_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    sigs = _sigs(chain, block, chain.validators[:2] + [key("outsider")])
    with pytest.raises(InvalidQuorumCertificate, match="not a committee member"):
        validate_block(chain.state, _with_signatures(chain, block, sigs))


def test_qc_with_a_bad_signature_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    sigs = _sigs(chain, block, chain.validators[:3])
    sigs[1] = VoteSignature(sigs[1].voter, bytes(64))
    with pytest.raises(InvalidQuorumCertificate, match="bad signature"):
        validate_block(chain.state, _with_signatures(chain, block, sigs))


def test_qc_for_another_block_is_refused(chain: Chain) -> None:
    block = _proposal(chain)
    other = chain.build([chain.transfer(chain.users[2], RECIPIENT, 1)]).block
    with pytest.raises(InvalidQuorumCertificate, match="different block"):
        validate_block(chain.state, block.replace(qc=chain.qc(other)))


# --------------------------------------------------------------------------- the builder


def test_builder_skips_invalid_transactions_with_their_reason(chain: Chain) -> None:
    good = chain.transfer(chain.users[0], RECIPIENT, 5)
    replay = chain.blocks[-1].body.transactions[0]
    broke = chain.transfer(chain.users[1], RECIPIENT, 10**12)
    built = chain.build([replay, good, broke])
    assert built.block.body.transactions == (good,)
    assert [type(err).__name__ for _, err in built.rejected] == ["BadNonce", "InsufficientFunds"]
    chain.finalise(built)


def test_builder_refuses_to_build_for_someone_else_s_slot(chain: Chain) -> None:
    not_leader = next(m for m in chain.state.next_committee.members if m != chain.leader())
    with pytest.raises(WrongProposer):
        build_block(chain.state, not_leader, timestamp_ms=0)


def test_leader_rotates_with_height_and_view(chain: Chain) -> None:
    committee = chain.state.next_committee
    members = committee.members
    assert [leader(committee, 5, v) for v in range(4)] == [members[(5 + v) % 4] for v in range(4)]
    built = chain.build(view=2)
    assert built.block.header.proposer == members[(chain.state.height + 1 + 2) % 4]
    chain.finalise(built)


def test_a_block_with_proposal_evidence_validates_and_its_evidence_is_committed(chain: Chain) -> None:
    chain.advance()
    evidence = chain.double_proposal(view=2)
    built = chain.build(evidence=[evidence])
    block = built.block.replace(qc=chain.qc(built.block))
    assert validate_block(chain.state, block).state_root == built.state.state_root
    forged = evidence.replace(signature_b=evidence.signature_a)
    with pytest.raises(WrongBodyRoot):
        validate_block(chain.state, block.replace(body=block.body.replace(evidence=(forged,))))
    header = block.header.replace(evidence_root=body_roots(block.body.replace(evidence=(forged,))).evidence_root)
    relabelled = Block(header, block.body.replace(evidence=(forged,)), None)
    with pytest.raises(InvalidEvidence, match="signature"):
        validate_block(chain.state, relabelled, require_qc=False)
