"""What the engine asks its driver to do: the engine never performs I/O, it returns these.

The driver (the node's trio loop, or the test simulator) executes them in order: durably save the
signing record, broadcast a message, arm a timer, hand a final block to storage, or publish
equivocation evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from app.core.bft.resume import ResumeRecord
from app.core.bft.signing import SigningRecord
from app.core.types import Block, Evidence, Proposal, ProposalEvidence, QuorumCert, Vote


class Step(IntEnum):
    """The phase of a view; timeouts are armed per (height, view, step)."""

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


@dataclass(frozen=True)
class PersistSigningState:
    """Durably save `record` (e.g. `SigningStateStore.save`) before executing any later action.

    It always comes before the `BroadcastProposal` or `BroadcastVote` it covers; a node that cannot
    save it must not broadcast (stop, rather than risk a conflicting signature after a restart).
    """

    record: SigningRecord


@dataclass(frozen=True)
class PersistResumeState:
    """Save `record` (e.g. `ResumeStateStore.save`) before the vote that follows goes out.

    It comes just before the `PersistSigningState` of the vote it holds; a node that fails to save it
    only loses liveness after a restart, so it may log and go on.
    """

    record: ResumeRecord


@dataclass(frozen=True)
class BroadcastProposal:
    """Gossip this node's signed proposal to the committee."""

    proposal: Proposal


@dataclass(frozen=True)
class BroadcastVote:
    """Gossip this node's signed vote to the committee."""

    vote: Vote


@dataclass(frozen=True)
class ScheduleTimeout:
    """Call `on_timeout(height, view, step)` after `delay_ms`; stale timers are ignored, never cancelled."""

    height: int
    view: int
    step: Step
    delay_ms: int


@dataclass(frozen=True)
class CommitBlock:
    """`block` (with its `qc` attached) is final at its height: store it, apply it, start the next height."""

    block: Block
    qc: QuorumCert


@dataclass(frozen=True)
class EvidenceFound:
    """A committee member equivocated; the node gossips this and may include it in a block."""

    evidence: Evidence | ProposalEvidence


Action = (
    PersistSigningState
    | PersistResumeState
    | BroadcastProposal
    | BroadcastVote
    | ScheduleTimeout
    | CommitBlock
    | EvidenceFound
)
