"""The BFT engine in a deterministic simulated network: safety always, liveness when a quorum can talk."""

from __future__ import annotations

import random

import pytest

from app.core.bft import Action, BftEngine, PersistSigningState, SigningRecord, check_proposal_evidence, leader_for
from app.core.consensus import check_evidence
from app.core.types import Evidence, ProposalEvidence
from tests.core.bft_sim import CHAIN, Node, Schedule, SimApp, Simulator, committee_of, make_keys


def finished(sim: Simulator) -> list[int]:
    return [n.tip.header.height for n in sim.nodes]


def test_four_honest_members_finalise_identical_chains() -> None:
    sim = Simulator(make_keys(4), seed=11)
    sim.run(heights=30)
    sim.assert_safe()
    sim.assert_certified()
    assert finished(sim) == [30, 30, 30, 30]
    assert len({tuple(b.block_hash for b in n.chain) for n in sim.nodes}) == 1
    assert not any(n.evidence or n.rejected for n in sim.nodes)


def test_lossy_network_still_finalises() -> None:
    sim = Simulator(make_keys(4), seed=12, drop=0.2, delay_ms=(1, 120))
    sim.run(heights=15)
    sim.assert_safe()
    sim.assert_certified()
    assert min(finished(sim)) >= 15


def test_silent_leader_triggers_a_view_change_and_the_chain_goes_on() -> None:
    sim = Simulator(make_keys(4), seed=13)
    mute = sim.nodes[0]
    mute.mute_proposals = True  # votes like everyone else, never proposes
    sim.run(heights=12)
    sim.assert_safe()
    assert all(n.tip.header.height >= 12 for n in sim.nodes if n.honest)
    chain = sim.nodes[1].chain[1:]
    assert all(b.header.proposer != mute.key.public_key for b in chain)
    skipped = [
        b
        for b in chain
        if leader_for(sim.schedule.committee(b.header.height), b.header.height, 0) == mute.key.public_key
    ]
    assert skipped and all(b.qc is not None and b.qc.view >= 1 for b in skipped)


def test_one_of_four_members_down_still_finalises() -> None:
    sim = Simulator(make_keys(4), seed=14)
    sim.nodes[3].down = lambda now: True
    sim.run(heights=12)
    sim.assert_safe()
    sim.assert_certified()
    assert [h >= 12 for h in finished(sim)] == [True, True, True, False]
    for block in sim.nodes[0].chain[1:]:
        assert block.qc is not None
        assert sim.nodes[3].key.public_key not in {s.voter for s in block.qc.signatures}


def test_equivocating_leader_is_caught_and_cannot_split_the_chain() -> None:
    sim = Simulator(make_keys(4), seed=15)
    liar = sim.nodes[2]
    liar.equivocate_proposals = True
    sim.run(heights=12)
    sim.assert_safe()
    assert all(n.tip.header.height >= 12 for n in sim.nodes if n.honest)
    found = [e for n in sim.nodes if n.honest for e in n.evidence if isinstance(e, ProposalEvidence)]
    assert found
    for evidence in found:
        assert check_proposal_evidence(evidence, sim.schedule.committee(evidence.height), CHAIN) == liar.key.public_key


def test_leader_proposing_invalid_blocks_is_voted_out() -> None:
    sim = Simulator(make_keys(4), seed=16)
    bad = sim.nodes[1]
    bad.poison_blocks = True
    sim.run(heights=12)
    sim.assert_safe()
    assert all(n.tip.header.height >= 12 for n in sim.nodes if n.honest)
    assert all(b.header.proposer != bad.key.public_key for b in sim.nodes[0].chain[1:])


def test_even_split_makes_no_progress_and_recovers_after_healing() -> None:
    sim = Simulator(make_keys(4), seed=17)
    split_at, heal_at = 1_000, 6_000
    sim.partition(split_at, heal_at, [{0, 1}, {2, 3}])
    sim.run(heights=4, max_ms=split_at)
    before = min(finished(sim))
    sim.run(heights=10_000, max_ms=heal_at)  # the whole split: no height can be reached
    settle = split_at + sim.delay_ms[1]  # messages sent before the split may still land
    assert not [c for c in sim.commits if settle < c[0] <= heal_at]
    sim.run(heights=before + 8, max_ms=60_000)
    sim.assert_safe()
    sim.assert_certified()
    assert min(finished(sim)) >= before + 8


def test_double_voting_member_produces_evidence() -> None:
    sim = Simulator(make_keys(4), seed=18)
    cheat = sim.nodes[3]
    cheat.double_vote = True
    sim.run(heights=8)
    sim.assert_safe()
    assert all(n.tip.header.height >= 8 for n in sim.nodes if n.honest)
    found = [e for n in sim.nodes if n.honest for e in n.evidence if isinstance(e, Evidence)]
    assert found
    for evidence in found:
        assert check_evidence(evidence, sim.schedule.committee(evidence.vote_a.height), CHAIN) == cheat.key.public_key


def test_committee_hand_over_at_an_epoch_boundary() -> None:
    old, new = make_keys(4, "epoch0"), make_keys(3, "epoch1")
    keys = old + new
    second = committee_of(old[2:] + new, epoch=1)  # two stay, two leave, three join (M = 5)
    schedule = Schedule([committee_of(old, epoch=0), second], epoch_length=5)
    sim = Simulator(keys, seed=19, schedule=schedule)
    sim.run(heights=14)
    sim.assert_safe()
    sim.assert_certified()
    assert min(finished(sim)) >= 14  # members that left keep following as observers
    chain = sim.nodes[0].chain
    for block in chain[6:]:
        assert block.qc is not None
        assert {s.voter for s in block.qc.signatures} <= set(second.members)
        assert block.header.proposer in second.members
    assert any(old[0].public_key in {s.voter for s in b.qc.signatures} for b in chain[1:6] if b.qc)


@pytest.mark.parametrize("seed", range(30))
def test_random_schedules_never_finalise_conflicting_blocks(seed: int) -> None:
    rng = random.Random(seed)
    sim = Simulator(
        make_keys(4),
        seed=seed,
        drop=rng.choice([0.0, 0.1, 0.3]),
        delay_ms=(1, rng.choice([30, 150, 400])),
    )
    faulty = sim.nodes[rng.randrange(4)]
    fault = rng.choice(["equivocate_proposals", "double_vote", "poison_blocks", "mute_proposals", "down", "none"])
    if fault == "down":
        faulty.down = lambda now: now > 700
    elif fault != "none":
        setattr(faulty, fault, True)
    if rng.random() < 0.5:
        start = rng.randrange(0, 3_000)
        sim.partition(
            start, start + rng.randrange(500, 4_000), [{0, 1}, {2, 3}] if rng.random() < 0.5 else [{0, 1, 2}, {3}]
        )
    sim.run(heights=8, max_ms=40_000)
    sim.assert_safe()
    sim.assert_certified()
    live_honest = [n for n in sim.nodes if n.honest and not n.down(sim.now)]
    assert min(n.tip.header.height for n in live_honest) >= 8, f"stalled under fault {fault!r}"


class RestartingSimulator(Simulator):
    """The simulator with a durable signing record per node, and crash-restarts of a node's engine.

    `PersistSigningState` is "saved" when executed, so a restart sees exactly the records saved before
    it (each precedes its broadcast in the action list). `persist=False` restarts from nothing: the
    control that shows these runs would catch a member that forgets what it signed.
    """

    def __init__(self, *args: object, persist: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.persist = persist
        self.saved: dict[int, SigningRecord] = {}
        self.restarts = 0
        self.mid_height = 0  # restarts in a height the member had already signed in

    def _execute(self, node: Node, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, PersistSigningState):
                self.saved[node.index] = action.record
            else:
                super()._execute(node, [action])

    def restart(self, index: int) -> None:
        """The node's process dies and comes back: a new engine from the saved record and the stored chain."""
        node = self.nodes[index]
        record = self.saved.get(index) if self.persist else None
        node.engine = BftEngine(CHAIN, SimApp(node), node.key, self.timeouts, signing_record=record)
        self.restarts += 1
        self.mid_height += record is not None and record.height == node.tip.header.height + 1
        self._execute(node, node.engine.start_height(node.tip.header.height + 1))


def evidence_against(sim: Simulator, key: bytes) -> list[Evidence | ProposalEvidence]:
    return [
        e for n in sim.nodes for e in n.evidence if (e.vote_a.voter if isinstance(e, Evidence) else e.proposer) == key
    ]


def restarting_run(seed: int, persist: bool) -> RestartingSimulator:
    rng = random.Random(1000 + seed)
    sim = RestartingSimulator(
        make_keys(4), seed=seed, persist=persist, drop=rng.choice([0.0, 0.1]), delay_ms=(1, rng.choice([30, 150]))
    )
    victim = seed % 4
    t = 0
    for _ in range(12):  # restarts at random instants: mid-view, mid-height, right after signing
        t += rng.randrange(5, 90)
        sim.at(t, lambda: sim.restart(victim))
    sim.run(heights=25, max_ms=40_000)
    return sim


@pytest.mark.parametrize("seed", range(12))
def test_a_member_restarted_mid_height_never_equivocates_and_the_chain_stays_safe(seed: int) -> None:
    sim = restarting_run(seed, persist=True)
    victim = sim.nodes[seed % 4]
    assert sim.restarts == 12 and sim.mid_height >= 5
    sim.assert_safe()
    sim.assert_certified()
    assert evidence_against(sim, victim.key.public_key) == []
    assert min(finished(sim)) >= 25


def test_without_its_record_a_restarted_member_is_caught_equivocating() -> None:
    """The control: the same runs with the record thrown away produce evidence against the member."""
    caught = [
        seed
        for seed in range(12)
        if evidence_against(restarting_run(seed, persist=False), make_keys(4)[seed % 4].public_key)
    ]
    assert len(caught) >= 6
