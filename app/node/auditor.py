"""The background auditor: re-executes random segments of included receipts while their rewards vest.

The committee re-executes only `q` segments of a receipt before it is included, so a miner that faked
one segment of many is paid with good odds. Its reward is pending for `reward_vesting_blocks`
(docs/PROTOCOL.md, Part 4); during that window any node may prove the fake and claw the reward back,
earning the bounty. This module is that node's side: it keeps the receipts of committed blocks whose
rewards are still pending, and hands out one segment at a time to re-execute, never the same one twice
for a receipt, at a bounded rate (`AuditConfig.segments_per_minute`) and only when the node's
`may_run` gate allows it (a miner's policy: paused, on battery, ...). The re-execution runs on the
node's low-priority audit thread (`audit_segment`), never on the thread that verifies receipts and
aggregates rounds, so it cannot delay a round or a vote.

`Auditor` is bookkeeping on the node thread (no torch, no network); `audit_segment` is the blocking
part. A mismatch becomes a fraud proof only once `TrainingWork.check_fraud` (the very check every
committee member runs before voting) finds it `fraud-proven`; the node then publishes it through its
fraud desk. A challenged trace or checkpoint that its miner does not serve during the window is
recorded (`Withheld`): the data behind an included receipt must stay available until it vests.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.core.rewards import REWARD_PENDING
from app.core.state import ChainState
from app.core.types import Block, FraudProof, WorkReceipt
from app.pot.fraud import PROVEN, make_fraud_proof
from app.pot.proof import TrainingTrace, segment_count
from app.pot.verify import TaskView, Verdict

log = logging.getLogger(__name__)

DEFAULT_SEGMENTS_PER_MINUTE = 6.0
MAX_TARGETS = 4096  # receipts tracked at once; the oldest (closest to vesting) are dropped first
AUDIT_TICK_S = 0.5

# outcome kinds of one audited segment
CORRECT = "correct"
FRAUD = "fraud"
WITHHELD = "withheld"
INCONCLUSIVE = "inconclusive"  # this node's own trouble (a crash, a view it cannot build): try again later


def backfill_heights(head: ChainState) -> range:
    """The blocks whose receipts may still be vesting on `head`: the longest vesting (a new key's) back.

    A node restarted audits these again; with only `reward_vesting_blocks` it forgot a new key's receipts,
    the ones that vest longest because a fresh key is the cheapest to cheat with."""
    window = head.params.vesting_blocks(has_history=False)
    return range(max(1, head.height - window), head.height + 1)


@dataclass(frozen=True)
class AuditConfig:
    """Whether this node audits, and how fast. On by default for validators (`Node` decides)."""

    enabled: bool = True
    segments_per_minute: float = DEFAULT_SEGMENTS_PER_MINUTE
    max_targets: int = MAX_TARGETS

    def __post_init__(self) -> None:
        if not self.segments_per_minute > 0:
            raise ValueError(f"segments_per_minute must be positive, not {self.segments_per_minute!r}")
        if self.max_targets < 1:
            raise ValueError("max_targets must be at least 1")


@dataclass(frozen=True)
class AuditJob:
    """One segment of one included receipt to re-execute."""

    receipt: WorkReceipt
    segment: int
    included_at: int  # height of the block that paid the receipt


@dataclass(frozen=True)
class AuditOutcome:
    kind: str
    detail: str = ""
    proof: FraudProof | None = None  # with kind FRAUD: the proof, already re-checked as proven


@dataclass(frozen=True)
class Withheld:
    """A miner did not serve the trace or a checkpoint of an included receipt while its reward vests."""

    receipt_id: bytes
    miner: bytes
    segment: int
    height: int  # the head when it was found
    detail: str


@dataclass
class _Target:
    receipt: WorkReceipt
    n_segments: int
    included_at: int
    unlock_height: int
    audited: set[int] = field(default_factory=set)


@dataclass
class AuditStats:
    segments: int = 0
    frauds: int = 0
    withheld: int = 0
    started_at: float = field(default_factory=time.monotonic)

    def per_minute(self, now: float) -> float:
        return self.segments * 60.0 / max(now - self.started_at, 1e-9)


class Auditor:
    """Which segment of which vesting receipt to re-execute next, and what was found (node thread only)."""

    def __init__(
        self, config: AuditConfig, rng: random.Random | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self._rng = rng or secrets.SystemRandom()  # an unpredictable pick: a miner cannot know what is audited
        self._clock = clock
        self._targets: dict[bytes, _Target] = {}  # receipt id -> target
        self._busy = False
        self._next_at = clock()
        self.withheld: list[Withheld] = []
        self.proofs: list[FraudProof] = []
        self.stats = AuditStats(started_at=clock())

    def __len__(self) -> int:
        return len(self._targets)

    # ------------------------------------------------------------------ inputs

    def on_block(self, block: Block, head: ChainState) -> None:
        """Track the receipts `block` paid whose rewards are still pending on `head`."""
        for receipt in block.body.receipts:
            reward = head.pending_reward(receipt.receipt_id)
            task = head.task(receipt.task_id)
            if reward is None or task is None or reward.status != REWARD_PENDING:
                continue
            if reward.unlock_height <= head.height or receipt.receipt_id in self._targets:
                continue
            try:
                n = segment_count(task.spec)
            except ValueError:
                continue
            self._targets[receipt.receipt_id] = _Target(receipt, n, block.header.height, reward.unlock_height)
        while len(self._targets) > self.config.max_targets:
            oldest = min(self._targets.values(), key=lambda t: t.unlock_height)
            del self._targets[oldest.receipt.receipt_id]

    def on_commit(self, head: ChainState) -> None:
        """Forget receipts whose reward vested or was clawed back: a proof could no longer apply."""
        for rid, _target in list(self._targets.items()):
            reward = head.pending_reward(rid)
            # a proof goes into block head.height + 1 at the earliest, so it must still be pending then
            if reward is None or reward.status != REWARD_PENDING or reward.unlock_height < head.height + 1:
                del self._targets[rid]

    # ------------------------------------------------------------------ decisions

    def next_job(self, may_run: bool = True) -> AuditJob | None:
        """The next segment to re-execute, or None (busy, rate limit, gate closed, nothing left)."""
        now = self._clock()
        if not self.config.enabled or not may_run or self._busy or now < self._next_at:
            return None
        open_targets = [t for t in self._targets.values() if len(t.audited) < t.n_segments]
        if not open_targets:
            return None
        target = self._rng.choice(open_targets)
        segment = self._rng.choice([j for j in range(target.n_segments) if j not in target.audited])
        self._busy = True
        return AuditJob(target.receipt, segment, target.included_at)

    def finished(self, job: AuditJob, outcome: AuditOutcome, head_height: int) -> None:
        """Record what the re-execution of `job` found; the next job waits for the rate limit."""
        self._busy = False
        self._next_at = self._clock() + 60.0 / self.config.segments_per_minute
        target = self._targets.get(job.receipt.receipt_id)
        if outcome.kind == INCONCLUSIVE:
            return
        self.stats.segments += 1
        if target is not None:
            target.audited.add(job.segment)
        if outcome.kind == FRAUD and outcome.proof is not None:
            self.stats.frauds += 1
            self.proofs.append(outcome.proof)
            self._targets.pop(job.receipt.receipt_id, None)  # one proof claws the whole reward back
        elif outcome.kind == WITHHELD:
            self.stats.withheld += 1
            self.withheld.append(
                Withheld(job.receipt.receipt_id, job.receipt.miner, job.segment, head_height, outcome.detail)
            )
            del self.withheld[:-MAX_TARGETS]


class AuditWork(Protocol):
    """What `audit_segment` needs from the node's training work (`app.node.work.TrainingWork`)."""

    def audit(self, receipt: WorkReceipt, view: TaskView, segment: int) -> tuple[Verdict, TrainingTrace | None]: ...

    def check_fraud(self, proof: FraudProof, view: TaskView) -> Verdict: ...


def audit_segment(work: AuditWork, job: AuditJob, view: TaskView, challenger: bytes) -> AuditOutcome:
    """Re-execute `job`'s segment (blocking; the audit thread). A mismatch that the committee's own
    fraud-proof check confirms becomes a proof paying the bounty to `challenger` (an address)."""
    verdict, trace = work.audit(job.receipt, view, job.segment)
    if verdict.accepted:
        return AuditOutcome(CORRECT)
    if verdict.reason == "unavailable":
        return AuditOutcome(WITHHELD, verdict.detail)
    if trace is None:
        return AuditOutcome(INCONCLUSIVE, f"{verdict.reason}: {verdict.detail}")
    proof = make_fraud_proof(job.receipt, job.segment, trace).for_chain(challenger)
    confirmed = work.check_fraud(proof, view)
    if confirmed.reason != PROVEN:
        log.info(
            "audit of receipt %s segment %d: %s, but the fraud-proof check says %s (%s)",
            job.receipt.receipt_id.hex()[:16],
            job.segment,
            verdict.reason,
            confirmed.reason,
            confirmed.detail,
        )
        return AuditOutcome(INCONCLUSIVE, f"{confirmed.reason}: {confirmed.detail}")
    return AuditOutcome(FRAUD, verdict.detail, proof)
