"""Stateless checks of a proposal against its slot: who may propose, and what the block must say.

These run before a proposal can influence the engine; anything that fails is the sender's fault and
raises `InvalidProposal`. Whether the block is valid *on the chain* is the node's question
(`ConsensusApp.validate_block`), asked separately, because a wrong block is answered by a nil prevote.
"""

from __future__ import annotations

from app.core.bft.rules import leader_for
from app.core.errors import InvalidProposal, InvalidSignature
from app.core.types import Committee, Proposal


def check_proposal(proposal: Proposal, committee: Committee, chain_id: str, height: int) -> None:
    """Raise `InvalidProposal` unless `proposal` is well formed and signed by its slot's leader."""
    p = proposal
    if p.chain_id != chain_id:
        raise InvalidProposal(f"proposal is for chain {p.chain_id!r}, not {chain_id!r}")
    if p.height != height:
        raise InvalidProposal(f"proposal is for height {p.height}, not {height}")
    if p.proposer != leader_for(committee, height, p.view):
        raise InvalidProposal(f"{p.proposer.hex()[:16]} does not lead view {p.view} of height {height}")
    if p.pol_view is not None and p.pol_view >= p.view:
        raise InvalidProposal(f"proof-of-lock view {p.pol_view} is not before view {p.view}")
    try:
        p.verify_signature()
    except InvalidSignature as exc:
        raise InvalidProposal(f"bad proposal signature: {exc}") from None
    check_block_slot(p, committee, chain_id, height)


def check_block_slot(proposal: Proposal, committee: Committee, chain_id: str, height: int) -> None:
    """The block must be unfinalised, for this chain and height, and built by the leader of its view.

    A fresh block (no proof of lock) is built in the proposal's own view; a re-proposed one was built
    no later than the view whose prevotes locked it.
    """
    header = proposal.block.header
    if proposal.block.qc is not None:
        raise InvalidProposal("a proposed block carries no quorum certificate yet")
    if header.chain_id != chain_id or header.height != height:
        raise InvalidProposal(f"block is for {header.chain_id!r} at {header.height}, not {chain_id!r} at {height}")
    if header.proposer != leader_for(committee, height, header.view):
        raise InvalidProposal(f"block builder does not lead view {header.view}")
    latest = proposal.view if proposal.pol_view is None else proposal.pol_view
    if header.view > latest or (proposal.pol_view is None and header.view != proposal.view):
        raise InvalidProposal(f"block built in view {header.view} cannot be proposed this way in view {proposal.view}")
