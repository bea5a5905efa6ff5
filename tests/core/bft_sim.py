"""A deterministic discrete-event network for the BFT engine: seeded delays, drops, partitions, faults.

Every node runs a real `BftEngine` with a real Ed25519 key and real `Block`s; the only stand-in is
block validity (`SimApp.validate_block`: links to the node's head, right height and epoch, and no
poisoned state root). One `random.Random(seed)` decides every delay and drop, and events at one
instant run in scheduling order, so a seed replays the same run exactly.

Gossip stand-in: each honest node relays every proposal and vote once to all peers, as GossipSub
would, so an equivocator's two messages meet somewhere. Sync stand-in: every `sync_interval_ms` a node that can reach a peer with a longer chain receives the
certificate (block + QC) for its next height, as the real header sync would fetch it.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core.bft import (
    Action,
    BftEngine,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    ScheduleTimeout,
    TimeoutConfig,
)
from app.core.consensus import verify_qc
from app.core.crypto import SigningKey
from app.core.errors import InvalidBlock, PotError
from app.core.hashing import ZERO_HASH, tagged_hash
from app.core.types import (
    Block,
    BlockBody,
    BlockHeader,
    Committee,
    Evidence,
    Proposal,
    ProposalEvidence,
    QuorumCert,
    Vote,
)

CHAIN = "pot-sim"
POISONED_ROOT = b"\xee" * 32
EMPTY_BODY = BlockBody(transactions=(), receipts=(), results=(), rewards=(), evidence=())
SIM_TIMEOUTS = TimeoutConfig(propose_ms=300, prevote_ms=200, precommit_ms=200, increment_ms=100)


def make_keys(n: int, namespace: str = "member") -> list[SigningKey]:
    """Deterministic keys, so runs (and block hashes) replay exactly."""
    return [SigningKey.from_seed(hashlib.sha256(f"{namespace}-{i}".encode()).digest()) for i in range(n)]


def committee_of(keys: list[SigningKey], epoch: int = 0) -> Committee:
    members = tuple(k.public_key for k in sorted(keys, key=lambda k: k.address))
    return Committee(epoch=epoch, members=members)


GENESIS = Block(
    header=BlockHeader(
        chain_id=CHAIN,
        height=0,
        prev_hash=ZERO_HASH,
        epoch=0,
        view=0,
        timestamp_ms=0,
        state_root=ZERO_HASH,
        txs_root=ZERO_HASH,
        receipts_root=ZERO_HASH,
        results_root=ZERO_HASH,
        rewards_root=ZERO_HASH,
        evidence_root=ZERO_HASH,
        next_committee_hash=ZERO_HASH,
        proposer=bytes(32),
    ),
    body=EMPTY_BODY,
    qc=None,
)


@dataclass
class Schedule:
    """Which committee signs each height: `committees[e]` for epoch e, epochs of `epoch_length` heights."""

    committees: list[Committee]
    epoch_length: int = 1_000_000

    def epoch_of(self, height: int) -> int:
        return min((height - 1) // self.epoch_length, len(self.committees) - 1) if height > 0 else 0

    def committee(self, height: int) -> Committee:
        return self.committees[self.epoch_of(height)]


class SimApp:
    """The node side of consensus for one simulated node (the `ConsensusApp` protocol)."""

    def __init__(self, node: "Node") -> None:
        self.node = node

    def committee(self, height: int) -> Committee:
        return self.node.sim.schedule.committee(height)

    def validate_block(self, block: Block) -> None:
        h, tip = block.header, self.node.tip
        if h.height != tip.header.height + 1 or h.prev_hash != tip.block_hash:
            raise InvalidBlock(f"block {h.height} does not extend head {tip.header.height}")
        if h.epoch != self.node.sim.schedule.epoch_of(h.height):
            raise InvalidBlock(f"block {h.height} names epoch {h.epoch}")
        if h.state_root == POISONED_ROOT:
            raise InvalidBlock("state root does not match the body")

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        return sim_block(self.node.sim, self.node.tip, height, view, proposer, self.node.poison_blocks)


def sim_block(
    sim: "Simulator", tip: Block, height: int, view: int, proposer: bytes, poison: bool = False, salt: int = 0
) -> Block:
    root = POISONED_ROOT if poison else tagged_hash(b"sim-state", tip.block_hash + height.to_bytes(8, "big"))
    header = GENESIS.header.replace(
        height=height,
        prev_hash=tip.block_hash,
        epoch=sim.schedule.epoch_of(height),
        view=view,
        timestamp_ms=sim.now + salt,
        state_root=root,
        next_committee_hash=sim.schedule.committee(height + 1).committee_hash,
        proposer=proposer,
    )
    return Block(header=header, body=EMPTY_BODY, qc=None)


@dataclass
class Node:
    """One participant: its engine, its committed chain, and how (if at all) it misbehaves."""

    sim: "Simulator"
    index: int
    key: SigningKey
    down: Callable[[int], bool] = lambda now: False
    equivocate_proposals: bool = False
    double_vote: bool = False
    poison_blocks: bool = False
    mute_proposals: bool = False
    chain: list[Block] = field(default_factory=lambda: [GENESIS])
    pool: dict[int, tuple[Block, QuorumCert]] = field(default_factory=dict)
    evidence: list[Evidence | ProposalEvidence] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    relayed: set[bytes] = field(default_factory=set)  # signatures of messages already gossiped
    engine: BftEngine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = BftEngine(CHAIN, SimApp(self), self.key, self.sim.timeouts)

    @property
    def tip(self) -> Block:
        return self.chain[-1]

    @property
    def honest(self) -> bool:
        return not (self.equivocate_proposals or self.double_vote or self.poison_blocks or self.mute_proposals)


class Simulator:
    """Runs nodes over a seeded, lossy, partitionable network until a height or a time limit."""

    def __init__(
        self,
        keys: list[SigningKey],
        *,
        seed: int,
        schedule: Schedule | None = None,
        delay_ms: tuple[int, int] = (5, 60),
        drop: float = 0.0,
        timeouts: TimeoutConfig = SIM_TIMEOUTS,
        sync_interval_ms: int = 400,
    ) -> None:
        self.rng = random.Random(seed)
        self.schedule = schedule or Schedule([committee_of(keys)])
        self.delay_ms = delay_ms
        self.drop = drop
        self.timeouts = timeouts
        self.sync_interval_ms = sync_interval_ms
        self.now = 0
        self.partitions: list[tuple[int, int, list[set[int]]]] = []
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._started = False
        self.nodes = [Node(self, i, k) for i, k in enumerate(keys)]
        self.commits: list[tuple[int, int, int, bytes]] = []  # (time, node, height, hash)

    # ------------------------------------------------------------------ network model

    def partition(self, start_ms: int, end_ms: int, groups: list[set[int]]) -> None:
        """Between `start_ms` and `end_ms` messages cross no group boundary (they are lost)."""
        self.partitions.append((start_ms, end_ms, groups))

    def reachable(self, a: int, b: int) -> bool:
        if self.nodes[a].down(self.now) or self.nodes[b].down(self.now):
            return False
        for start, end, groups in self.partitions:
            if start <= self.now < end and not any(a in g and b in g for g in groups):
                return False
        return True

    def at(self, time_ms: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (time_ms, next(self._seq), fn))

    def send(self, src: int, dst: int, deliver: Callable[[Node], None]) -> None:
        if not self.reachable(src, dst) or self.rng.random() < self.drop:
            return
        target = self.nodes[dst]
        self.at(self.now + self.rng.randint(*self.delay_ms), lambda: None if target.down(self.now) else deliver(target))

    def broadcast(self, src: int, deliver: Callable[[Node], None], only: set[int] | None = None) -> None:
        for node in self.nodes:
            if node.index != src and (only is None or node.index in only):
                self.send(src, node.index, deliver)

    # ------------------------------------------------------------------ driving engines

    def run(self, heights: int, max_ms: int = 120_000) -> None:
        """Run until every live honest node has `heights` blocks past genesis, or `max_ms` passes."""
        if not self._started:  # `run` may be called again to continue the same run
            self._started = True
            for node in self.nodes:
                self.at(0, lambda n=node: self._start(n))
                self.at(self.sync_interval_ms, lambda n=node: self._sync_tick(n))
        while self._events and not self._done(heights):
            if self._events[0][0] > max_ms:
                self.now = max_ms
                break
            time_ms, _, fn = heapq.heappop(self._events)
            self.now = time_ms
            fn()

    def _done(self, heights: int) -> bool:
        live = [n for n in self.nodes if n.honest and not n.down(self.now)]
        return all(n.tip.header.height >= heights for n in live)

    def _start(self, node: Node) -> None:
        # A "down" node is cut off from the network; its own clock and engine keep running.
        self._execute(node, node.engine.start_height(node.tip.header.height + 1))

    def _call(self, node: Node, fn: Callable[[], list[Action]]) -> None:
        try:
            actions = fn()
        except PotError as exc:
            node.rejected[type(exc).__name__] += 1
            return
        self._execute(node, actions)

    def _execute(self, node: Node, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, BroadcastProposal):
                self._send_proposal(node, action.proposal)
            elif isinstance(action, BroadcastVote):
                self._send_vote(node, action.vote)
            elif isinstance(action, ScheduleTimeout):
                self._schedule_timeout(node, action)
            elif isinstance(action, CommitBlock):
                self._commit(node, action.block, action.qc)
            elif isinstance(action, EvidenceFound):
                node.evidence.append(action.evidence)

    def _schedule_timeout(self, node: Node, a: ScheduleTimeout) -> None:
        # Its own scope: a lambda in _execute's loop would fire every timeout of one batch with the last one's step.
        self.at(
            self.now + a.delay_ms, lambda: self._call(node, lambda: node.engine.on_timeout(a.height, a.view, a.step))
        )

    def _send_proposal(self, node: Node, proposal: Proposal) -> None:
        if node.mute_proposals:
            return
        if not node.equivocate_proposals or proposal.pol_view is not None:
            self.broadcast(node.index, lambda n: self._deliver_proposal(n, proposal))
            return
        # Byzantine leader: block A to half the nodes, a different block B to the others.
        other_block = sim_block(self, node.tip, proposal.height, proposal.view, node.key.public_key, salt=1)
        other = proposal.replace(block=other_block)
        other = other.replace(signature=node.key.sign(other.SIG_DOMAIN, CHAIN, other.signing_bytes()))
        half = {n.index for n in self.nodes if n.index % 2 == 0}
        rest = {n.index for n in self.nodes} - half
        self.broadcast(node.index, lambda n: self._deliver_proposal(n, proposal), only=half)
        self.broadcast(node.index, lambda n: self._deliver_proposal(n, other), only=rest)

    def _deliver_proposal(self, node: Node, proposal: Proposal) -> None:
        """Gossip: hand the proposal to the engine, then relay it once to every peer (as GossipSub does)."""
        key = proposal.signature
        if key in node.relayed:
            return
        node.relayed.add(key)
        self._call(node, lambda: node.engine.on_proposal(proposal))
        if node.honest:
            self.broadcast(node.index, lambda n: self._deliver_proposal(n, proposal))

    def _send_vote(self, node: Node, vote: Vote) -> None:
        if not node.double_vote:
            self.broadcast(node.index, lambda n: self._deliver_vote(n, vote))
            return
        # Byzantine voter: its real vote to half, a contradicting one to the rest.
        fake_hash = ZERO_HASH if vote.block_hash != ZERO_HASH else tagged_hash(b"sim-fake", vote.signature)
        fake = vote.replace(block_hash=fake_hash)
        fake = fake.replace(signature=node.key.sign(fake.SIG_DOMAIN, CHAIN, fake.signing_bytes()))
        half = {n.index for n in self.nodes if n.index % 2 == 0}
        rest = {n.index for n in self.nodes} - half
        self.broadcast(node.index, lambda n: self._deliver_vote(n, vote), only=half)
        self.broadcast(node.index, lambda n: self._deliver_vote(n, fake), only=rest)

    def _deliver_vote(self, node: Node, vote: Vote) -> None:
        """Gossip: hand the vote to the engine, then relay it once to every peer."""
        if vote.signature in node.relayed:
            return
        node.relayed.add(vote.signature)
        self._call(node, lambda: node.engine.on_vote(vote))
        if node.honest:
            self.broadcast(node.index, lambda n: self._deliver_vote(n, vote))

    def _commit(self, node: Node, block: Block, qc: QuorumCert) -> None:
        assert block.header.prev_hash == node.tip.block_hash, "engine committed a block off the head"
        node.chain.append(block)
        self.commits.append((self.now, node.index, block.header.height, block.block_hash))
        self.broadcast(node.index, lambda n: self._receive_certificate(n, block, qc))
        self._execute(node, node.engine.start_height(block.header.height + 1))
        self._drain_pool(node)

    def _receive_certificate(self, node: Node, block: Block, qc: QuorumCert) -> None:
        height = block.header.height
        if height > node.tip.header.height:
            node.pool.setdefault(height, (block, qc))
        self._drain_pool(node)

    def _drain_pool(self, node: Node) -> None:
        nxt = node.tip.header.height + 1
        if nxt in node.pool and node.engine.height == nxt and not node.engine.decided:
            block, qc = node.pool.pop(nxt)
            self._call(node, lambda: node.engine.on_certificate(block, qc))

    def _sync_tick(self, node: Node) -> None:
        """Header-sync stand-in: fetch the next certificate from any reachable peer that has it."""
        nxt = node.tip.header.height + 1
        for peer in self.nodes:
            if peer is not node and self.reachable(node.index, peer.index) and len(peer.chain) > nxt:
                block = peer.chain[nxt]
                assert block.qc is not None
                self._receive_certificate(node, block.replace(qc=None), block.qc)
                break
        self.at(self.now + self.sync_interval_ms, lambda: self._sync_tick(node))

    # ------------------------------------------------------------------ checks

    def committed_per_height(self) -> dict[int, set[bytes]]:
        """Every block hash any honest node finalised, by height (safety: one per height)."""
        seen: dict[int, set[bytes]] = {}
        for _, index, height, block_hash in self.commits:
            if self.nodes[index].honest:
                seen.setdefault(height, set()).add(block_hash)
        return seen

    def assert_certified(self) -> None:
        """Every block any node holds carries a QC that verifies under its height's committee."""
        for node in self.nodes:
            for block in node.chain[1:]:
                assert block.qc is not None
                h = block.header.height
                verify_qc(block.qc, self.schedule.committee(h), block.block_hash, CHAIN, h)

    def assert_safe(self) -> None:
        conflicts = {h: s for h, s in self.committed_per_height().items() if len(s) > 1}
        assert not conflicts, f"conflicting commits at heights {sorted(conflicts)}"
        honest = [n for n in self.nodes if n.honest]
        longest = max(honest, key=lambda n: len(n.chain)).chain
        for node in honest:
            assert [b.block_hash for b in node.chain] == [b.block_hash for b in longest[: len(node.chain)]]
