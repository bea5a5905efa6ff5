"""Semantic gossip checks: cheap, run on the network thread before a message is relayed.

They read only the immutable head state, so they need no lock. A bad signature is the sender's
fault (REJECT: the forwarding peer loses score); a message that is merely stale or from another
epoch is IGNOREd without blame. So is a well-signed message that cannot be used (a transaction whose
sender cannot pay it or whose nonce is spent or far ahead, a receipt that is not for a task's open
round and checkpoint): checked before the signature, never relayed, never rewarded.
"""

from __future__ import annotations

from collections.abc import Callable

from app.core.admission import check_task_post
from app.core.bft import check_proposal_evidence
from app.core.consensus import check_evidence, verify_qc
from app.core.encoding import Record
from app.core.errors import PotError
from app.core.fraud import MalformedFraudProof
from app.core.state import ChainState
from app.core.tasks import TASK_OPEN
from app.core.types import (
    Block,
    Bond,
    Evidence,
    FraudProof,
    Proposal,
    ProposalEvidence,
    QuorumCert,
    TaskPost,
    Transfer,
    Unbond,
    Vote,
    WorkReceipt,
)
from app.net.validators import Verdict
from app.node.fraud import check_admissible
from app.node.mempool import precheck

Head = Callable[[], ChainState]


def make_validator(head: Head) -> Callable[[str, Record], Verdict]:
    """One semantic validator for every topic (the record type tells them apart)."""

    def validate(peer: str, record: Record) -> Verdict:
        state = head()
        if isinstance(record, TaskPost):  # a degenerate or underpriced task: InadmissibleTask -> REJECT, whatever
            # the sender's nonce or funds (an inadmissible post is never valid, later or elsewhere: relaying it is
            # the relayer's fault); pure and cheap, so it runs before the state-dependent precheck
            check_task_post(record.spec, record.fee_per_round, state.params.min_fee_per_gflop)
        if isinstance(record, (Transfer, Bond, Unbond, TaskPost)) and precheck(record, state) is not None:
            return Verdict.IGNORE
        if isinstance(record, WorkReceipt) and not for_open_round(record, state):
            return Verdict.IGNORE
        if isinstance(record, (Transfer, Bond, Unbond, TaskPost, WorkReceipt)):
            record.verify_signature()  # raises InvalidSignature -> REJECT
            return Verdict.ACCEPT
        if isinstance(record, Vote):
            members = set(state.committee.members) | set(state.next_committee.members)
            if record.voter not in members or record.height + 2 < state.height:
                return Verdict.IGNORE
            record.verify_signature()
            return Verdict.ACCEPT
        if isinstance(record, Proposal):
            if record.height <= state.height:
                return Verdict.IGNORE
            record.verify_signature()
            return Verdict.ACCEPT
        if isinstance(record, Block):
            return _block(record, state)
        if isinstance(record, Evidence):
            return _evidence(lambda: check_evidence(record, state.next_committee, state.chain_id))
        if isinstance(record, ProposalEvidence):
            return _evidence(lambda: check_proposal_evidence(record, state.next_committee, state.chain_id))
        if isinstance(record, FraudProof):
            return _fraud_proof(record, state)
        if isinstance(record, QuorumCert):
            return Verdict.IGNORE  # nodes learn certificates with blocks; nothing to relay
        return Verdict.REJECT

    return validate


def _block(block: Block, state: ChainState) -> Verdict:
    """Relay a block only once its certificate is checked: a forged QC is the sender's fault (REJECT,
    raised); a block for any height but the next cannot be checked here, and is left to sync (IGNORE)."""
    if block.qc is None:
        return Verdict.REJECT  # gossip carries final blocks only
    if block.header.height != state.height + 1 or block.header.chain_id != state.chain_id:
        return Verdict.IGNORE
    verify_qc(block.qc, state.next_committee, block.block_hash, state.chain_id, block.header.height)
    return Verdict.ACCEPT


def for_open_round(receipt: WorkReceipt, state: ChainState) -> bool:
    """Whether `receipt` claims work on a task's open round from its current checkpoint (only such can be paid)."""
    task = state.task(receipt.task_id)
    return (
        task is not None
        and task.status == TASK_OPEN
        and receipt.round == task.round
        and receipt.base_checkpoint == task.checkpoint
    )


def _evidence(check: Callable[[], bytes]) -> Verdict:
    try:
        check()
    except PotError:
        return Verdict.IGNORE  # evidence from an older committee is not the relayer's fault
    return Verdict.ACCEPT


def _fraud_proof(proof: FraudProof, state: ChainState) -> Verdict:
    """Relay a fraud proof that could go in the next block (structure, reward still pending); the
    re-execution is each validator's own check before it pools or votes for the proof."""
    try:
        check_admissible(proof, state)
    except MalformedFraudProof:
        return Verdict.REJECT  # openings that do not prove against the receipt: whoever relays it is at fault
    except PotError:
        return Verdict.IGNORE  # vested, already clawed back, or a receipt this node has not seen paid yet
    return Verdict.ACCEPT
