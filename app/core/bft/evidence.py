"""Leader equivocation: two signed proposals of different blocks in one view.

Vote equivocation uses `app.core.consensus.check_evidence`; this is its counterpart for proposals, so
a leader that shows one block to half the committee and another to the rest can be slashed even if
it never votes.
"""

from __future__ import annotations

from app.core import crypto
from app.core.bft.rules import leader_for
from app.core.errors import InvalidQuorumCertificate, InvalidSignature
from app.core.types import Committee, Proposal, ProposalEvidence, proposal_signing_bytes


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


def check_proposal_evidence(evidence: ProposalEvidence, committee: Committee, chain_id: str) -> bytes:
    """Return the equivocating leader's public key, or raise `InvalidQuorumCertificate`.

    Valid evidence: two correctly signed proposals by the leader of that (height, view) under
    `committee`, for different blocks, on this chain.
    """
    ev = evidence
    if ev.chain_id != chain_id:
        raise InvalidQuorumCertificate(f"evidence is for chain {ev.chain_id!r}, not {chain_id!r}")
    if ev.block_hash_a == ev.block_hash_b:
        raise InvalidQuorumCertificate("evidence proposals agree")
    if not committee.members or leader_for(committee, ev.height, ev.view) != ev.proposer:
        raise InvalidQuorumCertificate("evidence names a member that did not lead that view")
    for pol_view, block_hash, signature in (
        (ev.pol_view_a, ev.block_hash_a, ev.signature_a),
        (ev.pol_view_b, ev.block_hash_b, ev.signature_b),
    ):
        message = proposal_signing_bytes(ev.chain_id, ev.height, ev.view, pol_view, block_hash, ev.proposer)
        try:
            crypto.verify(ev.proposer, signature, crypto.SIG_PROPOSAL, ev.chain_id, message)
        except InvalidSignature as exc:
            raise InvalidQuorumCertificate(f"evidence carries a bad signature: {exc}") from None
    return ev.proposer
