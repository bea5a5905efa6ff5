"""One BFT engine driven by hand: what it rejects, what evidence it makes, and how its lock behaves."""

from __future__ import annotations

import pytest

from app.core.bft import (
    BftEngine,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    PersistSigningState,
    ScheduleTimeout,
    SigningRecord,
    SigningStateStore,
    Step,
    TimeoutConfig,
    check_proposal_evidence,
    leader_for,
)
from app.core.consensus import check_evidence, make_qc
from app.core.crypto import SigningKey
from app.core.errors import InvalidBlock, InvalidProposal, InvalidQuorumCertificate, InvalidVote, StorageError
from app.core.hashing import ZERO_HASH
from app.core.types import VOTE_PRECOMMIT, VOTE_PREVOTE, Block, Committee, Proposal, ProposalEvidence, Vote
from tests.core.bft_sim import CHAIN, EMPTY_BODY, GENESIS, POISONED_ROOT, committee_of, make_keys

KEYS = make_keys(4)
COMMITTEE = committee_of(KEYS)
BY_PUB = {k.public_key: k for k in KEYS}
H = 1


class StubApp:
    """Chain of genesis only; a block is valid unless its state root is poisoned."""

    def committee(self, height: int) -> Committee:
        return COMMITTEE

    def validate_block(self, block: Block) -> None:
        if block.header.state_root == POISONED_ROOT or block.header.prev_hash != GENESIS.block_hash:
            raise InvalidBlock("bad stand-in block")

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        return block_for(view, proposer)


def block_for(view: int, proposer: bytes | None = None, salt: int = 0, poison: bool = False) -> Block:
    proposer = proposer or leader_for(COMMITTEE, H, view)
    header = GENESIS.header.replace(
        height=H,
        prev_hash=GENESIS.block_hash,
        view=view,
        timestamp_ms=1000 + salt,
        state_root=POISONED_ROOT if poison else bytes([7]) * 32,
        proposer=proposer,
    )
    return Block(header=header, body=EMPTY_BODY, qc=None)


def proposal(
    view: int, block: Block | None = None, pol_view: int | None = None, signer: SigningKey | None = None
) -> Proposal:
    leader = leader_for(COMMITTEE, H, view)
    key = signer or BY_PUB[leader]
    p = Proposal(
        chain_id=CHAIN,
        height=H,
        view=view,
        pol_view=pol_view,
        block=block or block_for(view),
        proposer=key.public_key,
        signature=bytes(64),
    )
    return p.replace(signature=key.sign(p.SIG_DOMAIN, CHAIN, p.signing_bytes()))


def vote(key: SigningKey, view: int, kind: int, block_hash: bytes, height: int = H, chain: str = CHAIN) -> Vote:
    v = Vote(
        chain_id=chain,
        height=height,
        view=view,
        kind=kind,
        block_hash=block_hash,
        voter=key.public_key,
        signature=bytes(64),
    )
    return v.replace(signature=key.sign(v.SIG_DOMAIN, chain, v.signing_bytes()))


def non_leader(view: int) -> SigningKey:
    """A member that does not lead `view` (nor view + 1), so tests control every proposal."""
    busy = {leader_for(COMMITTEE, H, view), leader_for(COMMITTEE, H, view + 1)}
    return next(k for k in KEYS if k.public_key not in busy)


def others(me: SigningKey) -> list[SigningKey]:
    return [k for k in KEYS if k is not me]


def started(me: SigningKey | None = None) -> tuple[BftEngine, SigningKey]:
    me = me or non_leader(0)
    engine = BftEngine(CHAIN, StubApp(), me, TimeoutConfig(100, 100, 100, 50))
    engine.start_height(H)
    return engine, me


def my_votes(actions: list, kind: int) -> list[Vote]:
    return [a.vote for a in actions if isinstance(a, BroadcastVote) and a.vote.kind == kind]


# --------------------------------------------------------------------------- rejections


def test_votes_that_break_rules_are_rejected_without_changing_state() -> None:
    engine, me = started()
    peer = others(me)[0]
    outsider = SigningKey.from_seed(bytes(32))
    good = vote(peer, 0, VOTE_PREVOTE, ZERO_HASH)
    with pytest.raises(InvalidVote, match="chain"):
        engine.on_vote(vote(peer, 0, VOTE_PREVOTE, ZERO_HASH, chain="other"))
    with pytest.raises(InvalidVote, match="not in the committee"):
        engine.on_vote(vote(outsider, 0, VOTE_PREVOTE, ZERO_HASH))
    with pytest.raises(InvalidVote, match="signature"):
        engine.on_vote(good.replace(signature=bytes(64)))
    with pytest.raises(InvalidVote, match="signature"):
        engine.on_vote(good.replace(block_hash=b"\x01" * 32))  # signed for another block
    assert engine.on_vote(vote(peer, 0, VOTE_PREVOTE, ZERO_HASH, height=0)) == []  # stale: ignored
    assert engine.on_vote(vote(peer, 0, VOTE_PREVOTE, ZERO_HASH, height=9)) == []  # far ahead: ignored
    assert (engine.view, engine.step, engine._book.total(0, VOTE_PREVOTE)) == (0, Step.PROPOSE, 0)


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: proposal(0, signer=non_leader(0)), "does not lead"),
        (lambda: proposal(0).replace(signature=bytes(64)), "signature"),
        (lambda: proposal(0).replace(chain_id="x"), "chain"),
        (lambda: proposal(1, block_for(1), pol_view=1), "proof-of-lock"),
        (
            lambda: proposal(0, block_for(0).replace(qc=make_qc([vote(KEYS[0], 0, VOTE_PRECOMMIT, b"\x02" * 32)]))),
            "no quorum certificate",
        ),
        (lambda: proposal(0, block_for(0).replace(header=block_for(0).header.replace(height=5))), "at 5"),
        (lambda: proposal(0, block_for(0, proposer=non_leader(0).public_key)), "builder"),
        (lambda: proposal(0, block_for(1)), "cannot be proposed"),
        (lambda: proposal(2, block_for(1), pol_view=0), "cannot be proposed"),
    ],
)
def test_malformed_proposals_are_rejected(make, reason: str) -> None:
    engine, _ = started()
    with pytest.raises(InvalidProposal, match=reason):
        engine.on_proposal(make())
    assert engine.step == Step.PROPOSE and not engine._proposals


# --------------------------------------------------------------------------- evidence


def test_double_vote_yields_evidence_that_names_the_voter() -> None:
    engine, me = started()
    cheat = others(me)[0]
    engine.on_vote(vote(cheat, 0, VOTE_PREVOTE, ZERO_HASH))
    actions = engine.on_vote(vote(cheat, 0, VOTE_PREVOTE, b"\x05" * 32))
    found = [a.evidence for a in actions if isinstance(a, EvidenceFound)]
    assert len(found) == 1 and check_evidence(found[0], COMMITTEE, CHAIN) == cheat.public_key
    assert engine.on_vote(vote(cheat, 0, VOTE_PREVOTE, b"\x06" * 32)) == []  # reported once per slot


def test_equivocating_leader_yields_proposal_evidence_and_a_nil_prevote() -> None:
    engine, _ = started()
    first = engine.on_proposal(proposal(0, block_for(0, salt=1)))
    assert my_votes(first, VOTE_PREVOTE)[0].block_hash == block_for(0, salt=1).block_hash
    actions = engine.on_proposal(proposal(0, block_for(0, salt=2)))
    evidence = [a.evidence for a in actions if isinstance(a, EvidenceFound)][0]
    assert isinstance(evidence, ProposalEvidence)
    assert check_proposal_evidence(evidence, COMMITTEE, CHAIN) == leader_for(COMMITTEE, H, 0)
    assert ProposalEvidence.decode(evidence.encode()) == evidence
    with pytest.raises(InvalidQuorumCertificate):
        check_proposal_evidence(evidence.replace(signature_b=evidence.signature_a), COMMITTEE, CHAIN)
    with pytest.raises(InvalidQuorumCertificate, match="did not lead"):
        check_proposal_evidence(evidence.replace(view=1), COMMITTEE, CHAIN)


def test_leader_seen_equivocating_before_any_prevote_gets_a_nil_prevote() -> None:
    engine = BftEngine(CHAIN, StubApp(), non_leader(0), TimeoutConfig())
    engine.start_height(H)
    p1, p2 = proposal(0, block_for(0, salt=1)), proposal(0, block_for(0, salt=2))
    engine._accept_proposal(p1)  # both arrive before the rules run
    engine._accept_proposal(p2)
    engine._progress()
    assert my_votes(engine._flush(), VOTE_PREVOTE)[0].block_hash == ZERO_HASH


# --------------------------------------------------------------------------- rules


def test_invalid_block_gets_a_nil_prevote() -> None:
    engine, _ = started()
    actions = engine.on_proposal(proposal(0, block_for(0, poison=True)))
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == ZERO_HASH


def test_silent_leader_timeouts_lead_to_the_next_view_with_longer_timers() -> None:
    engine, me = started()
    assert engine.on_timeout(H, 0, Step.PREVOTE) == []  # wrong step: stale
    actions = engine.on_timeout(H, 0, Step.PROPOSE)
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == ZERO_HASH
    actions = engine.on_timeout(H, 0, Step.PRECOMMIT)
    assert engine.view == 1 and engine.step == Step.PROPOSE
    delays = {a.step: a.delay_ms for a in actions if isinstance(a, ScheduleTimeout)}
    assert delays[Step.PROPOSE] == TimeoutConfig(100, 100, 100, 50).delay_ms(Step.PROPOSE, 1) == 150
    assert engine.on_timeout(H, 0, Step.PRECOMMIT) == []  # an old view's timer does nothing


def test_a_height_committed_by_sync_silences_the_engine_until_the_next_height() -> None:
    """A synced block ends the height: a view change there would propose on a chain that moved on."""
    leader_of_view_1 = BY_PUB[leader_for(COMMITTEE, H, 1)]
    engine, me = started(leader_of_view_1)  # so a view change would make this member propose
    engine.note_committed(H)
    assert engine.on_timeout(H, 0, Step.PROPOSE) == []
    assert engine.on_timeout(H, 0, Step.PRECOMMIT) == []  # no view 1, so no proposal at a decided height
    assert engine.view == 0
    assert engine.on_vote(vote(others(me)[0], 0, VOTE_PREVOTE, ZERO_HASH)) == []


def lock_on(engine: BftEngine, me: SigningKey, view: int, block: Block) -> None:
    engine.on_proposal(proposal(view, block))
    for k in others(me)[:2]:
        engine.on_vote(vote(k, view, VOTE_PREVOTE, block.block_hash))
    assert engine.locked is not None and engine.locked.block == block


def test_quorum_of_prevotes_locks_and_precommits() -> None:
    engine, me = started()
    block = block_for(0)
    engine.on_proposal(proposal(0, block))
    actions = []
    for k in others(me)[:2]:
        actions += engine.on_vote(vote(k, 0, VOTE_PREVOTE, block.block_hash))
    assert my_votes(actions, VOTE_PRECOMMIT)[0].block_hash == block.block_hash
    assert engine.locked is not None and engine.locked.view == 0 and engine.step == Step.PRECOMMIT


def test_locked_member_refuses_a_new_block_but_accepts_its_lock_with_a_proof() -> None:
    idle = {leader_for(COMMITTEE, H, v) for v in range(3)}
    engine, me = started(next(k for k in KEYS if k.public_key not in idle))
    locked_block = block_for(0)
    lock_on(engine, me, 0, locked_block)
    engine.on_timeout(H, 0, Step.PRECOMMIT)
    actions = engine.on_proposal(proposal(1, block_for(1)))
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == ZERO_HASH
    engine.on_timeout(H, 1, Step.PREVOTE)
    engine.on_timeout(H, 1, Step.PRECOMMIT)
    assert engine.view == 2
    actions = engine.on_proposal(proposal(2, locked_block, pol_view=0))
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == locked_block.block_hash


def test_unlocked_member_waits_for_the_proof_of_lock() -> None:
    engine, me = started(non_leader(1))
    engine.on_timeout(H, 0, Step.PROPOSE)
    engine.on_timeout(H, 0, Step.PRECOMMIT)
    old = block_for(0)
    assert my_votes(engine.on_proposal(proposal(1, old, pol_view=0)), VOTE_PREVOTE) == []
    actions = []
    for k in [k for k in KEYS if k is not me][:3]:
        actions += engine.on_vote(vote(k, 0, VOTE_PREVOTE, old.block_hash))
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == old.block_hash


def test_quorum_of_precommits_commits_with_a_verifiable_qc() -> None:
    engine, me = started()
    block = block_for(0)
    engine.on_proposal(proposal(0, block))
    actions = []
    for k in others(me):
        actions += engine.on_vote(vote(k, 0, VOTE_PRECOMMIT, block.block_hash))
    commits = [a for a in actions if isinstance(a, CommitBlock)]
    assert len(commits) == 1 and engine.decided
    assert commits[0].block.qc == commits[0].qc and commits[0].block.block_hash == block.block_hash
    assert len(commits[0].qc.signatures) >= COMMITTEE.quorum
    assert engine.on_vote(vote(me, 0, VOTE_PRECOMMIT, block.block_hash)) == []  # decided: ignored


def test_f_plus_one_members_in_a_later_view_pull_a_member_forward() -> None:
    engine, me = started()
    peers = others(me)
    engine.on_vote(vote(peers[0], 5, VOTE_PREVOTE, ZERO_HASH))
    assert engine.view == 0
    engine.on_vote(vote(peers[1], 5, VOTE_PRECOMMIT, ZERO_HASH))
    assert engine.view == 5


def test_catch_up_commits_on_a_valid_certificate_only() -> None:
    engine, me = started()
    block = block_for(0)
    qc = make_qc([vote(k, 3, VOTE_PRECOMMIT, block.block_hash) for k in KEYS[:3]])
    with pytest.raises(InvalidQuorumCertificate):
        engine.on_certificate(block, qc.replace(signatures=qc.signatures[:2]))
    with pytest.raises(InvalidQuorumCertificate):
        engine.on_certificate(block_for(0, salt=9), qc)
    assert engine.on_certificate(block.replace(header=block.header.replace(height=2)), qc) == []
    actions = engine.on_certificate(block, qc)
    assert [type(a) for a in actions] == [CommitBlock] and actions[0].block.qc == qc


def test_next_height_messages_are_buffered_and_replayed() -> None:
    engine, me = started()
    early = vote(others(me)[0], 0, VOTE_PREVOTE, ZERO_HASH, height=H + 1)
    assert engine.on_vote(early) == []
    engine.on_certificate(
        block_for(0), make_qc([vote(k, 0, VOTE_PRECOMMIT, block_for(0).block_hash) for k in KEYS[:3]])
    )
    engine.start_height(H + 1)
    assert engine._book.total(0, VOTE_PREVOTE) >= 1
    with pytest.raises(ValueError):
        engine.start_height(H + 1)


def test_leader_proposes_and_prevotes_its_own_block() -> None:
    leader = next(k for k in KEYS if k.public_key == leader_for(COMMITTEE, H, 0))
    engine = BftEngine(CHAIN, StubApp(), leader, TimeoutConfig())
    actions = engine.start_height(H)
    sent = [a.proposal for a in actions if isinstance(a, BroadcastProposal)]
    assert len(sent) == 1 and sent[0].pol_view is None
    assert Proposal.decode(sent[0].encode()) == sent[0]
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == sent[0].block_hash


def test_observer_follows_without_voting() -> None:
    engine = BftEngine(CHAIN, StubApp(), None, TimeoutConfig())
    engine.start_height(H)
    actions = engine.on_proposal(proposal(0))
    assert not engine.is_member and my_votes(actions, VOTE_PREVOTE) == []


def test_timeouts_grow_with_the_view() -> None:
    t = TimeoutConfig()
    for step in Step:
        assert [t.delay_ms(step, v) for v in range(4)] == sorted({t.delay_ms(step, v) for v in range(4)})
    with pytest.raises(ValueError):
        TimeoutConfig(propose_ms=0)


# --------------------------------------------------------------------------- signing persistence


def signed(actions: list) -> list:
    return [a for a in actions if isinstance(a, (BroadcastVote, BroadcastProposal))]


def restart(me: SigningKey, record: SigningRecord | None) -> BftEngine:
    return BftEngine(CHAIN, StubApp(), me, TimeoutConfig(100, 100, 100, 50), signing_record=record)


def test_every_signed_message_is_preceded_by_its_saved_record() -> None:
    leader = next(k for k in KEYS if k.public_key == leader_for(COMMITTEE, H, 0))
    engine = BftEngine(CHAIN, StubApp(), leader, TimeoutConfig())
    actions = engine.start_height(H)
    for k in others(leader)[:2]:
        actions += engine.on_vote(vote(k, 0, VOTE_PREVOTE, block_for(0).block_hash))
    sent = signed(actions)
    assert [type(a) for a in sent] == [BroadcastProposal, BroadcastVote, BroadcastVote]
    for action in sent:
        before = actions[actions.index(action) - 1]
        assert isinstance(before, PersistSigningState)
        message = action.proposal if isinstance(action, BroadcastProposal) else action.vote
        step = Step.PROPOSE if isinstance(action, BroadcastProposal) else Step(message.kind + 1)
        assert before.record.position == (H, message.view, step) and before.record.block_hash == message.block_hash
    assert engine.snapshot() == before.record
    assert (engine.snapshot().locked_view, engine.snapshot().locked_hash) == (0, block_for(0).block_hash)
    assert SigningRecord.decode(engine.snapshot().encode()) == engine.snapshot()


def test_restarted_member_never_contradicts_its_precommit_and_keeps_its_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    idle = {leader_for(COMMITTEE, H, v) for v in range(3)}
    me = next(k for k in KEYS if k.public_key not in idle)
    engine, _ = started(me)
    block_a, block_b = block_for(0), block_for(0, salt=5)
    lock_on(engine, me, 0, block_a)  # prevoted and precommitted A at (H, 0)
    store = SigningStateStore(tmp_path / "signing.cbor")
    store.save(engine.snapshot())

    again = restart(me, store.load())
    assert signed(again.start_height(H)) == []
    assert (again.view, again.step) == (0, Step.PRECOMMIT)
    assert again.locked is not None and (again.locked.view, again.locked.block_hash) == (0, block_a.block_hash)
    # A conflicting proposal, timeouts and a nil quorum at (H, 0): nothing is signed there again.
    assert signed(again.on_proposal(proposal(0, block_b))) == []
    assert signed(again.on_timeout(H, 0, Step.PROPOSE) + again.on_timeout(H, 0, Step.PREVOTE)) == []
    for k in others(me):
        assert signed(again.on_vote(vote(k, 0, VOTE_PREVOTE, ZERO_HASH))) == []
    # In later views the lock holds: a new block gets nil, the locked block with its proof gets a prevote.
    again.on_timeout(H, 0, Step.PRECOMMIT)
    assert my_votes(again.on_proposal(proposal(1, block_for(1))), VOTE_PREVOTE)[0].block_hash == ZERO_HASH
    again.on_timeout(H, 1, Step.PREVOTE)
    again.on_timeout(H, 1, Step.PRECOMMIT)
    assert signed(again.on_proposal(proposal(2, block_a, pol_view=0))) == []  # waits for the proof of lock
    actions = []
    for k in others(me)[:3]:  # (they prevoted nil above too: counted as well, since A is now known)
        actions += again.on_vote(vote(k, 0, VOTE_PREVOTE, block_a.block_hash))
    assert my_votes(actions, VOTE_PREVOTE)[0].block_hash == block_a.block_hash
    assert again.snapshot().position == (H, 2, Step.PREVOTE) and again.snapshot().locked_hash == block_a.block_hash


def test_a_fresh_engine_would_have_contradicted_it() -> None:
    """The control for the test above: without the record the same inputs make a conflicting vote."""
    me = non_leader(0)
    engine, _ = started(me)
    lock_on(engine, me, 0, block_for(0))
    fresh = restart(me, None)
    fresh.start_height(H)
    votes = my_votes(fresh.on_proposal(proposal(0, block_for(0, salt=5))), VOTE_PREVOTE)
    assert votes and votes[0].block_hash != block_for(0).block_hash


def test_leader_restarted_after_proposing_does_not_propose_again() -> None:
    leader = next(k for k in KEYS if k.public_key == leader_for(COMMITTEE, H, 0))
    engine = BftEngine(CHAIN, StubApp(), leader, TimeoutConfig())
    engine.start_height(H)
    proposed = SigningRecord(CHAIN, leader.public_key, H, 0, Step.PROPOSE, block_for(0).block_hash, None, None)
    again = restart(leader, proposed)
    actions = again.start_height(H)
    assert not [a for a in actions if isinstance(a, BroadcastProposal)] and again.step == Step.PROPOSE
    # It may still prevote (a later step) the block it proposed, when that comes back by gossip.
    assert my_votes(again.on_proposal(proposal(0)), VOTE_PREVOTE)[0].block_hash == block_for(0).block_hash


def test_a_record_from_a_later_height_silences_the_member_below_it() -> None:
    leader = next(k for k in KEYS if k.public_key == leader_for(COMMITTEE, H, 0))
    later = SigningRecord(CHAIN, leader.public_key, H + 3, 0, Step.PREVOTE, ZERO_HASH, None, None)
    engine = restart(leader, later)
    assert signed(engine.start_height(H) + engine.on_timeout(H, 0, Step.PROPOSE)) == []
    assert engine.snapshot() == later


def test_a_record_of_another_key_or_chain_is_refused() -> None:
    me, other = KEYS[0], KEYS[1]
    record = SigningRecord(CHAIN, other.public_key, H, 0, Step.PREVOTE, ZERO_HASH, None, None)
    with pytest.raises(ValueError, match="another key"):
        restart(me, record)
    with pytest.raises(ValueError, match="chain"):
        restart(other, record.replace(chain_id="elsewhere"))
    with pytest.raises(ValueError):
        record.replace(locked_view=1)  # a lock needs its hash too


def test_signing_store_saves_atomically_and_refuses_a_corrupt_record(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "consensus" / "signing.cbor"
    store = SigningStateStore(path)
    assert store.load() is None
    first = SigningRecord(CHAIN, KEYS[0].public_key, H, 0, Step.PREVOTE, ZERO_HASH, None, None)
    second = first.replace(step=Step.PRECOMMIT, block_hash=b"\x03" * 32, locked_view=0, locked_hash=b"\x03" * 32)
    store.save(first)
    store.save(second)
    assert SigningStateStore(path).load() == second
    assert [p.name for p in path.parent.iterdir()] == ["signing.cbor"]  # no temporary file left behind
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(StorageError, match="corrupt"):
        store.load()
