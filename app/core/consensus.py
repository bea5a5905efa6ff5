"""Pure rules of committee consensus: the leader rotation, quorum certificates and equivocation evidence.

The BFT engine (`app/core/bft/`), block validation (`app/core/validation.py`) and the state machine's
slashing (`app/core/validators.py`) all call these, so there is one definition of "finalised" and of
"equivocated" in the code base. This module imports only types and crypto, so the state machine can use it without
pulling in the engine (`app.core.bft` re-exports `leader_for` and `check_proposal_evidence`).
"""

from __future__ import annotations

from app.core import crypto
from app.core.errors import InvalidQuorumCertificate, InvalidSignature
from app.core.types import (
    VOTE_PRECOMMIT,
    Committee,
    Evidence,
    ProposalEvidence,
    QuorumCert,
    Vote,
    VoteSignature,
    proposal_signing_bytes,
)


def leader_for(committee: Committee, height: int, view: int) -> bytes:
    """The member that proposes at (`height`, `view`): members[(height + view) % M]."""
    if not committee.members:
        raise ValueError("an empty committee has no leader")
    return committee.members[(height + view) % len(committee.members)]


def verify_qc(qc: QuorumCert, committee: Committee, block_hash: bytes, chain_id: str, height: int) -> None:
    """Raise `InvalidQuorumCertificate` unless `qc` finalises `block_hash` at `height` under `committee`.

    Rejects: a QC for another chain, height or block; a duplicate signer; a signer outside the
    committee; any bad signature; fewer than `floor(2M/3)+1` distinct members.
    """
    if qc.chain_id != chain_id:
        raise InvalidQuorumCertificate(f"QC is for chain {qc.chain_id!r}, not {chain_id!r}")
    if qc.height != height:
        raise InvalidQuorumCertificate(f"QC is for height {qc.height}, not {height}")
    if qc.block_hash != block_hash:
        raise InvalidQuorumCertificate("QC certifies a different block")
    members = set(committee.members)
    seen: set[bytes] = set()
    for sig in qc.signatures:
        if sig.voter in seen:
            raise InvalidQuorumCertificate(f"duplicate signature by {sig.voter.hex()[:16]}")
        if sig.voter not in members:
            raise InvalidQuorumCertificate(f"signature by {sig.voter.hex()[:16]}, not a committee member")
        seen.add(sig.voter)
        try:
            qc.vote_of(sig).verify_signature()
        except InvalidSignature as exc:
            raise InvalidQuorumCertificate(f"bad signature in QC: {exc}") from None
    if len(seen) < committee.quorum:
        raise InvalidQuorumCertificate(
            f"{len(seen)} signatures, quorum of {len(committee.members)} members is {committee.quorum}"
        )


def check_evidence(evidence: Evidence, committee: Committee, chain_id: str) -> bytes:
    """Return the equivocating member's public key, or raise `InvalidQuorumCertificate`.

    Valid evidence: two correctly signed votes by one committee member, same chain, height, view and
    kind, for different blocks.
    """
    a, b = evidence.vote_a, evidence.vote_b
    if a.voter != b.voter:
        raise InvalidQuorumCertificate("evidence votes are by different voters")
    if a.voter not in committee.members:
        raise InvalidQuorumCertificate("evidence names a non-member")
    if (a.chain_id, a.height, a.view, a.kind) != (b.chain_id, b.height, b.view, b.kind) or a.chain_id != chain_id:
        raise InvalidQuorumCertificate("evidence votes are not for the same slot")
    if a.block_hash == b.block_hash:
        raise InvalidQuorumCertificate("evidence votes agree")
    try:
        a.verify_signature()
        b.verify_signature()
    except InvalidSignature as exc:
        raise InvalidQuorumCertificate(f"evidence carries a bad signature: {exc}") from None
    return a.voter


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


def make_qc(votes: list[Vote]) -> QuorumCert:
    """Assemble a QC from precommit votes for one block (the caller checked they form a quorum)."""
    first = votes[0]
    if any(
        (v.height, v.view, v.block_hash, v.kind) != (first.height, first.view, first.block_hash, VOTE_PRECOMMIT)
        for v in votes
    ):
        raise ValueError("votes are not precommits for one block")
    unique = {v.voter: v for v in votes}
    sigs = tuple(
        VoteSignature(voter=v.voter, signature=v.signature)
        for _, v in sorted(unique.items(), key=lambda kv: crypto.key_hash(kv[0]))
    )
    return QuorumCert(
        chain_id=first.chain_id, height=first.height, view=first.view, block_hash=first.block_hash, signatures=sigs
    )
