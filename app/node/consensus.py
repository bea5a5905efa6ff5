"""The node's consensus driver: the BFT engine's inputs and outputs, proposals, votes and commits.

`ConsensusDriver` belongs to one `Node` (app/node/node.py) and runs on its event loop. It answers the
engine's questions (the committee, whether a block is valid, a block to propose), carries out the
engine's actions (save the signing and resume records, broadcast, schedule a timeout, commit, keep
evidence), holds back a proposal whose receipts or fraud proofs are still being re-executed, and after
each commit brings the node's desks up to the new head and starts the next height.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from app.core.bft import (
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    PersistResumeState,
    PersistSigningState,
    ResumeRecord,
    ScheduleTimeout,
    SigningRecord,
    Step,
)
from app.core.builder import build_block
from app.core.crypto import key_hash
from app.core.errors import PotError, StorageError
from app.core.types import Block, Committee, Evidence, Proposal

if TYPE_CHECKING:
    from app.node.node import Node

log = logging.getLogger("app.node.node")  # the node's log lines keep one logger name, whichever part writes them


class SigningRecordError(StorageError):
    """The validator's signing record cannot be used; the node refuses to start rather than risk a double vote."""


class ConsensusDriver:
    """Drive one node's BFT engine; see the module docstring."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.deferred: list[Proposal] = []  # proposals waiting for their receipts or fraud proofs to be checked

    # ------------------------------------------------------------------ saved records

    def load_signing_record(self) -> SigningRecord | None:
        """The saved signing record of this validator; SigningRecordError if it cannot be trusted."""
        node = self.node
        if node.signing is None:
            return None
        path = node.signing.path
        hint = (
            f"refusing to start: without it this validator could sign a vote that contradicts one it signed "
            f"before. Move {path} away only once the chain has finalised past the height it names"
        )
        try:
            record = node.signing.load()
        except StorageError as exc:
            raise SigningRecordError(f"{exc}; {hint}") from None
        if record is None:
            return None
        chain_id = node.chain.params.chain_id
        if record.chain_id != chain_id:
            raise SigningRecordError(
                f"the signing record {path} is for chain {record.chain_id!r}, not {chain_id!r}; {hint}"
            )
        if record.member != node.key.public_key:
            raise SigningRecordError(
                f"the signing record {path} belongs to another key than {node.config.key_path}; {hint}"
            )
        lock = (
            "no lock"
            if record.locked_hash is None
            else f"locked on {record.locked_hash.hex()[:16]} since view {record.locked_view}"
        )
        log.info(
            "signing record: last signed height %d view %d step %d, %s", record.height, record.view, record.step, lock
        )
        return record

    def load_resume_record(self) -> ResumeRecord | None:
        """The saved resume record; one that is unreadable or not this key's is set aside (it only helps liveness)."""
        node = self.node
        if node.resume is None:
            return None
        try:
            record = node.resume.load()
        except StorageError as exc:
            log.warning("%s; starting without it (a lock held alone may cost this height a few views)", exc)
            return None
        if record is not None and (
            record.chain_id != node.chain.params.chain_id or record.member != node.key.public_key
        ):
            log.warning("the resume record %s is for another chain or key; starting without it", node.resume.path)
            return None
        return record

    def save_signing_record(self, record: SigningRecord) -> None:
        """Durably save the record before the signed message that follows it goes out.

        A validator that cannot save it must not sign: the node stops (the exception also abandons the
        rest of this action list, so the broadcast it covers is never sent).
        """
        signing = self.node.signing
        assert signing is not None, "only a validator signs"
        try:
            signing.save(record)
        except OSError as exc:
            log.critical("cannot save the signing record %s (%s); stopping before signing", signing.path, exc)
            self.node.loop.stop()
            raise SigningRecordError(f"cannot save the signing record {signing.path}: {exc}") from exc

    def save_resume_record(self, record: ResumeRecord) -> None:
        """Save what a restart needs to stay live; a failure is logged, not fatal (safety rests on the signing record)."""
        resume = self.node.resume
        assert resume is not None, "only a validator signs"
        try:
            resume.save(record)
        except OSError as exc:
            log.warning("cannot save the resume record %s: %s", resume.path, exc)

    # ------------------------------------------------------------------ ConsensusApp

    def committee(self, height: int) -> Committee:
        return self.node.chain.state.next_committee

    def validate_block(self, block: Block) -> None:
        node = self.node
        node.chain.trial(block)
        if node.desk is not None:
            node.desk.check_block(block)
        if node.fraud is not None:
            node.fraud.check_block(block)  # never vote to claw back a reward this member did not see proven

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        node = self.node
        state = node.chain.state
        results, receipts = node.desk.ready(state) if node.desk is not None else ([], [])
        built = build_block(
            state,
            proposer,
            timestamp_ms=int(time.time() * 1000),
            view=view,
            transactions=node.mempool.pending(),
            results=results,
            receipts=receipts,
            evidence=list(node.evidence),
            fraud_proofs=node.fraud.ready(state) if node.fraud is not None else [],
        )
        for item, error in built.rejected:
            log.info("left %s out of block %d: %s", type(item).__name__, height, error)
            if isinstance(item, Evidence) and item in node.evidence:
                node.evidence.remove(item)
        if built.block.body.results:
            log.info("proposing block %d closing %d round(s)", height, len(built.block.body.results))
        if built.block.body.fraud_proofs:
            log.info("proposing block %d with %d fraud proof(s)", height, len(built.block.body.fraud_proofs))
        return built.block

    # ------------------------------------------------------------------ engine actions

    def act(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, PersistSigningState):
                self.save_signing_record(action.record)
            elif isinstance(action, PersistResumeState):
                self.save_resume_record(action.record)
            elif isinstance(action, BroadcastProposal):
                self.node.router.publish(action.proposal)
            elif isinstance(action, BroadcastVote):
                self.node.router.publish(action.vote)
            elif isinstance(action, ScheduleTimeout):
                self.node.loop.call_later(action.delay_ms / 1000, self.timeout, action.height, action.view, action.step)
            elif isinstance(action, CommitBlock):
                self.commit(action.block)
            elif isinstance(action, EvidenceFound):
                self.on_evidence_found(action.evidence)

    def timeout(self, height: int, view: int, step: Step) -> None:
        self.act(self.node.engine.on_timeout(height, view, step))

    def start_height(self, height: int) -> None:
        engine = self.node.engine
        if height != self.node.chain.height + 1 or (engine.height is not None and engine.height >= height):
            return
        record = engine.snapshot()
        if record is not None and record.height == height and engine.height is None:
            lock = "no lock" if record.locked_hash is None else f"its lock on {record.locked_hash.hex()[:16]}"
            log.info("resuming height %d at view %d with %s", height, record.view, lock)
        self.act(engine.start_height(height))

    def on_evidence_found(self, evidence: Any) -> None:
        log.warning("equivocation evidence against %s", _culprit(evidence).hex()[:16])
        if isinstance(evidence, Evidence) and evidence not in self.node.evidence:
            self.node.evidence.append(evidence)
        self.node.router.publish(evidence)

    # ------------------------------------------------------------------ proposals

    def on_proposal(self, proposal: Proposal) -> None:
        node = self.node
        state = node.chain.state
        if proposal.height > state.height + 1:
            node._request_sync()
        block = proposal.block
        if node.desk is not None and proposal.height == state.height + 1:
            # Every check is started before waiting, so receipts and fraud proofs re-execute together.
            missing = bool(block.body.receipts or block.body.results) and node.desk.missing_work(block, state)
            if node.fraud is not None and block.body.fraud_proofs:
                missing = node.fraud.missing_work(block, state) or missing
            if missing:
                if proposal not in self.deferred:
                    self.deferred.append(proposal)
                return
        self.act(node.engine.on_proposal(proposal))

    def retry_deferred(self) -> None:
        state = self.node.chain.state
        waiting, self.deferred = self.deferred, []
        for proposal in waiting:
            if proposal.height == state.height + 1:
                self.on_proposal(proposal)

    # ------------------------------------------------------------------ commits

    def commit(self, block: Block) -> None:
        node = self.node
        if block.header.height != node.chain.height + 1:
            return
        try:
            node.chain.commit(block)
        except PotError as exc:
            log.error("refused to commit block %d: %s", block.header.height, exc)
            return
        node.engine.note_committed(block.header.height)
        body = block.body
        log.info(
            "committed block %d (%d txs, %d receipts, %d results, %d evidence, %d fraud proofs)",
            block.header.height,
            len(body.transactions),
            len(body.receipts),
            len(body.results),
            len(body.evidence),
            len(body.fraud_proofs),
        )
        if node.auditor is not None and body.receipts:
            node.auditor.on_block(block, node.chain.state)
        self.after_commit()

    def remember_committees(self) -> None:
        state = self.node.chain.state
        self.node.committees.add(state.committee)
        self.node.committees.add(state.next_committee)

    def after_commit(self) -> None:
        node = self.node
        state = node.chain.state
        self.remember_committees()
        node.mempool.refresh(state)
        node.router.prune_origins(state)
        node.evidence = [e for e in node.evidence if state.account(key_hash(e.vote_a.voter)).bond > 0]
        if node.desk is not None:
            node.desk.on_commit(state)
        if node.fraud is not None:
            node.fraud.on_commit(state)
        if node.miner is not None:
            node.miner.on_head(state)
        if node.auditor is not None:
            node.auditor.on_commit(state)
        self.deferred = [p for p in self.deferred if p.height > state.height]
        node._write_status()
        node.loop.call_later(node.config.block_interval_s, self.start_height, state.height + 1)


def _culprit(evidence: Any) -> bytes:
    return evidence.vote_a.voter if isinstance(evidence, Evidence) else evidence.proposer
