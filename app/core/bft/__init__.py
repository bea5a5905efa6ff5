"""The committee's BFT consensus engine (Tendermint-style views), pure and transport-agnostic."""

from app.core.bft.actions import (
    Action,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    ScheduleTimeout,
    Step,
)
from app.core.bft.engine import BftEngine
from app.core.bft.evidence import check_proposal_evidence, make_proposal_evidence
from app.core.bft.ports import ConsensusApp, Signer
from app.core.bft.rules import fault_threshold, leader_for
from app.core.bft.timeouts import TimeoutConfig

__all__ = [
    "Action",
    "BftEngine",
    "BroadcastProposal",
    "BroadcastVote",
    "CommitBlock",
    "ConsensusApp",
    "EvidenceFound",
    "ScheduleTimeout",
    "Signer",
    "Step",
    "TimeoutConfig",
    "check_proposal_evidence",
    "fault_threshold",
    "leader_for",
    "make_proposal_evidence",
]
