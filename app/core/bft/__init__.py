"""The committee's BFT consensus engine (Tendermint-style views), pure and transport-agnostic."""

from app.core.bft.actions import (
    Action,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    PersistResumeState,
    PersistSigningState,
    ScheduleTimeout,
    Step,
)
from app.core.bft.engine import BftEngine
from app.core.bft.evidence import check_proposal_evidence, make_proposal_evidence
from app.core.bft.ports import ConsensusApp, Signer
from app.core.bft.resume import ResumeRecord, ResumeStateStore
from app.core.bft.rules import fault_threshold, leader_for
from app.core.bft.signing import SigningRecord, SigningStateStore
from app.core.bft.timeouts import TimeoutConfig

__all__ = [
    "Action",
    "BftEngine",
    "BroadcastProposal",
    "BroadcastVote",
    "CommitBlock",
    "ConsensusApp",
    "EvidenceFound",
    "PersistResumeState",
    "PersistSigningState",
    "ResumeRecord",
    "ResumeStateStore",
    "ScheduleTimeout",
    "Signer",
    "SigningRecord",
    "SigningStateStore",
    "Step",
    "TimeoutConfig",
    "check_proposal_evidence",
    "fault_threshold",
    "leader_for",
    "make_proposal_evidence",
]
