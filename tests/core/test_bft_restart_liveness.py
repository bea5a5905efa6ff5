"""PROTOCOL Part 6's liveness gap: a member restarted while locked on a block nobody else holds.

Four members, one down for good, so the three alive are a bare quorum. In view 0 member M sees the
leader's block X and the prevotes of the two others, locks on X and precommits it; then it crashes
before its own prevote and precommit leave, so the others saw only two prevotes for X and never lock.
M restarts with its signing record (locked on X). Without more, M prevotes nil on every fresh block and
the others never learn why: no block can gather a quorum, and the height stalls in every later view.
With its resume record, M re-sends its own votes and, once it leads, re-proposes X with its proof of
lock; the others accept it and X is final on all three. Real engines, keys and signatures throughout;
the network is a simulated clock that delivers every message between the three members.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.bft import (
    BftEngine,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    PersistResumeState,
    ResumeRecord,
    ResumeStateStore,
    ScheduleTimeout,
    SigningRecord,
    TimeoutConfig,
    leader_for,
)
from app.core.errors import StorageError
from app.core.types import VOTE_PREVOTE, Block, Proposal, Vote
from tests.core.bft_sim import CHAIN
from tests.core.test_bft_engine import COMMITTEE, KEYS, H, StubApp, block_for, vote

TIMEOUTS = TimeoutConfig(100, 100, 100, 50)


class Clocked:
    """Three live members on a lossless simulated network: messages arrive 1 ms later, timers fire on time."""

    def __init__(self) -> None:
        self.now = 0
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.engines: dict[bytes, BftEngine] = {}
        self.commits: dict[bytes, Block] = {}
        self.resume: dict[bytes, ResumeRecord] = {}

    def act(self, me: bytes, actions: list, send: bool = True) -> None:
        for a in actions:
            if isinstance(a, PersistResumeState):
                self.resume[me] = a.record
            elif isinstance(a, ScheduleTimeout):
                self._at(a.delay_ms, lambda a=a: self.act(me, self.engines[me].on_timeout(a.height, a.view, a.step)))
            elif isinstance(a, CommitBlock):
                self.commits[me] = a.block
            elif send and isinstance(a, (BroadcastProposal, BroadcastVote)):
                message = a.proposal if isinstance(a, BroadcastProposal) else a.vote
                for other in self.engines:
                    if other != me:
                        self._at(1, lambda o=other, m=message: self.deliver(o, m))

    def deliver(self, to: bytes, message: Proposal | Vote) -> None:
        engine = self.engines[to]
        self.act(to, engine.on_proposal(message) if isinstance(message, Proposal) else engine.on_vote(message))

    def run(self, until_ms: int) -> None:
        while self._events and self._events[0][0] <= until_ms and len(self.commits) < len(self.engines):
            self.now, _, fn = heapq.heappop(self._events)
            fn()

    def _at(self, delay_ms: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (self.now + delay_ms, next(self._seq), fn))


def crash_locked_member() -> tuple[Clocked, bytes, SigningRecord, ResumeRecord]:
    """View 0 as described above; returns the network of the two others, M's key and M's two saved records."""
    by_pub = {k.public_key: k for k in KEYS}
    leader = leader_for(COMMITTEE, H, 0)
    rest = [k for k in COMMITTEE.members if k != leader]
    m, b = rest[0], rest[1]  # rest[2] is down throughout
    net = Clocked()
    for pub in (leader, b):
        net.engines[pub] = BftEngine(CHAIN, StubApp(), by_pub[pub], TIMEOUTS)
    engine_m = BftEngine(CHAIN, StubApp(), by_pub[m], TIMEOUTS)
    out_m = engine_m.start_height(H)
    out_leader = net.engines[leader].start_height(H)
    net.act(leader, out_leader, send=False)
    net.act(b, net.engines[b].start_height(H), send=False)
    proposal = next(a.proposal for a in out_leader if isinstance(a, BroadcastProposal))
    leader_prevote = next(a.vote for a in out_leader if isinstance(a, BroadcastVote))
    out_m += engine_m.on_proposal(proposal)
    out_b = net.engines[b].on_proposal(proposal)
    net.act(b, out_b, send=False)
    b_prevote = next(a.vote for a in out_b if isinstance(a, BroadcastVote))
    net.act(leader, net.engines[leader].on_vote(b_prevote), send=False)
    net.act(b, net.engines[b].on_vote(leader_prevote), send=False)
    out_m += engine_m.on_vote(leader_prevote) + engine_m.on_vote(b_prevote)
    assert engine_m.locked is not None and engine_m.locked.block_hash == proposal.block_hash  # M alone is locked
    assert all(e.locked is None for e in net.engines.values())
    saved = [a.record for a in out_m if isinstance(a, PersistResumeState)]
    return net, m, engine_m.snapshot(), saved[-1]  # type: ignore[return-value]


def restart_and_run(resume: bool) -> tuple[Clocked, bytes, ResumeRecord]:
    net, m, signing, record = crash_locked_member()
    by_pub = {k.public_key: k for k in KEYS}
    net.engines[m] = BftEngine(
        CHAIN, StubApp(), by_pub[m], TIMEOUTS, signing_record=signing, resume_record=record if resume else None
    )
    net.act(m, net.engines[m].start_height(H))
    net.run(until_ms=60_000)
    return net, m, record


def test_without_the_resume_record_the_height_stalls() -> None:
    net, m, _ = restart_and_run(resume=False)
    assert net.commits == {}
    assert min(e.view for e in net.engines.values()) >= 12  # a dozen views, and M led several of them


def test_with_it_the_locked_block_is_final_everywhere() -> None:
    net, m, record = restart_and_run(resume=True)
    assert record.proposal is not None and record.proposal.block_hash == block_for(0).block_hash
    assert len(record.pol_votes) == 3 and [v.kind for v in record.own_votes] == [1, 2]
    assert set(net.commits) == set(net.engines) and {b.block_hash for b in net.commits.values()} == {
        block_for(0).block_hash
    }
    assert max(e.view for e in net.engines.values()) < len(COMMITTEE.members) + 1  # within one turn of leaders


def test_own_votes_past_the_signing_record_are_not_resent() -> None:
    """A crash between saving the resume record and the signing record: that vote never left, so it stays unsent."""
    _, m, signing, record = crash_locked_member()
    by_pub = {k.public_key: k for k in KEYS}
    earlier = signing.replace(step=1, locked_view=None, locked_hash=None)  # as saved before M's prevote
    votes_only = record.replace(proposal=None, pol_votes=())  # (without the proposal M has nothing to vote on)
    again = BftEngine(CHAIN, StubApp(), by_pub[m], TIMEOUTS, signing_record=earlier, resume_record=votes_only)
    sent = [a.vote for a in again.start_height(H) if isinstance(a, BroadcastVote)]
    assert sent == []
    again_full = BftEngine(CHAIN, StubApp(), by_pub[m], TIMEOUTS, signing_record=signing, resume_record=record)
    assert [a.vote for a in again_full.start_height(H) if isinstance(a, BroadcastVote)] == list(record.own_votes)


def test_resume_store_round_trip_and_bad_files(tmp_path: Path) -> None:
    _, m, _, record = crash_locked_member()
    store = ResumeStateStore(tmp_path / "signing.resume")
    assert store.load() is None
    store.save(record)
    assert store.load() == record
    (tmp_path / "signing.resume").write_bytes(record.encode()[:-7])
    with pytest.raises(StorageError, match="corrupt"):
        store.load()
    stranger = vote(KEYS[0] if KEYS[0].public_key != m else KEYS[1], 0, VOTE_PREVOTE, block_for(0).block_hash)
    with pytest.raises(ValueError, match="own votes"):
        record.replace(own_votes=(stranger,))
    with pytest.raises(ValueError, match="chain"):
        BftEngine("other-chain", StubApp(), None, TIMEOUTS, resume_record=record)
