"""Leader equivocation: two signed proposals of different blocks in one view.

Vote equivocation uses `app.core.consensus.check_evidence`; `check_proposal_evidence` (defined in
`app.core.consensus` so the state machine can check it without importing the engine, re-exported
here) is its counterpart for proposals, so a leader that shows one block to half the committee and
another to the rest can be slashed even if it never votes.
"""

from __future__ import annotations

from app.core.consensus import check_proposal_evidence
from app.core.types import Proposal, ProposalEvidence

__all__ = ["check_proposal_evidence", "make_proposal_evidence"]


def make_proposal_evidence(a: Proposal, b: Proposal) -> ProposalEvidence:
    """Evidence from two proposals the caller has verified (same slot, different blocks)."""
    if (a.chain_id, a.height, a.view, a.proposer) != (b.chain_id, b.height, b.view, b.proposer):
        raise ValueError("proposals are not for the same slot")
    if a.block_hash == b.block_hash:
        raise ValueError("proposals agree")
    return ProposalEvidence(
        chain_id=a.chain_id,
        height=a.height,
        view=a.view,
        proposer=a.proposer,
        pol_view_a=a.pol_view,
        block_hash_a=a.block_hash,
        signature_a=a.signature,
        pol_view_b=b.pol_view,
        block_hash_b=b.block_hash,
        signature_b=b.signature,
    )
