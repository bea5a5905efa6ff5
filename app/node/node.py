"""The node's composition root: storage, state, network, BFT engine and training, wired explicitly.

`Node(config).run()` blocks until SIGINT/SIGTERM. Roles: a *validator* drives the BFT engine with its
key, verifies receipts and aggregates rounds; a *miner* trains open rounds and gossips receipts; a
*full* node follows and serves the chain. Every role observes consensus (an engine without a key
commits a block once it sees a quorum of precommits) and catches up by header-first sync.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from app.core.bft import (
    BftEngine,
    BroadcastProposal,
    BroadcastVote,
    CommitBlock,
    EvidenceFound,
    PersistResumeState,
    PersistSigningState,
    ResumeRecord,
    ResumeStateStore,
    ScheduleTimeout,
    SigningRecord,
    SigningStateStore,
    Step,
    TimeoutConfig,
)
from app.core.blobstore import BlobStore
from app.core.builder import build_block
from app.core.crypto import key_hash
from app.core.encoding import Record
from app.core.errors import InvalidConsensusMessage, PotError, StorageError
from app.core.genesis import load_genesis
from app.core.state import ChainState
from app.core.types import (
    AnyTransaction,
    Block,
    Bond,
    Committee,
    Evidence,
    FraudProof,
    Proposal,
    TaskPost,
    Transfer,
    Unbond,
    Vote,
    WorkReceipt,
)
from app.miner.loop import RoundJob, RoundOutput
from app.net.facade import NetThread
from app.net.host import GossipMessage, NetConfig
from app.net.messages import ERR_NOT_FOUND, ErrorResponse
from app.net.protocols import Providers
from app.node import gossip, sync
from app.node.auditor import (
    AUDIT_TICK_S,
    DEFAULT_SEGMENTS_PER_MINUTE,
    AuditConfig,
    AuditJob,
    Auditor,
    AuditOutcome,
    audit_segment,
    backfill_heights,
)
from app.node.chain import ChainManager
from app.node.committees import PROTOCOL_NAME as COMMITTEE_PROTOCOL, CommitteeBook, CommitteeRequest, CommitteeResponse
from app.node.fraud import FraudDesk, receipt_view, round_view
from app.node.keys import load_key
from app.node.loop import EventLoop
from app.node.manifests import (
    MANIFEST_DEADLINE_S,
    PROTOCOL_NAME as MANIFEST_PROTOCOL,
    ManifestBook,
    ManifestRequest,
    ManifestResponse,
    ManifestUnavailable,
    request_manifest,
)
from app.node.mempool import Mempool
from app.node.mining import MinerDesk, train
from app.node.rounds import AggKey, RoundDesk
from app.node.status import snapshot, write_status
from app.node.traces import (
    PROTOCOL_NAME,
    TRACE_DEADLINE_S,
    TRACE_FALLBACK_PEERS,
    TraceBook,
    TraceRequest,
    TraceResponse,
    request_trace,
    still_challengeable,
)
from app.node.work import UNAVAILABLE, Checked, Gathered, TrainingWork
from app.pot.aggregate import Aggregate
from app.pot.datasets import DatasetManifest
from app.pot.proof import TrainingTrace
from app.pot.verify import TaskView, Verdict

log = logging.getLogger(__name__)

ROLES = ("validator", "miner", "full")
RECEIPT_REPUBLISH_S = 5.0
SIGNING_RECORD_FILE = "signing.record"  # the BFT signing record of a validator (docs/PROTOCOL.md, Part 3)
RESUME_RECORD_FILE = "signing.resume"  # its valid proposal, proof of lock and last votes (liveness after restarts)
MANIFESTS_DIR = "manifests"  # dataset manifests posted here or fetched from peers (app/node/manifests.py)
TRACES_DIR = "traces"  # a miner's checkpoint traces and the receipts signed with them (app/node/traces.py)
COMMITTEES_DIR = "committees"  # every committee this chain elected, served to light clients (committees.py)
DENIED_PEERS_FILE = "denied_peers"  # operator's deny list: one peer id per line, '#' starts a comment
DENY_SECONDS = 10 * 365 * 86400.0  # a denied peer stays banned until it leaves the file
MAX_ORIGINS = 4096  # receipts whose publishing peer is remembered (oldest forgotten first)


class SigningRecordError(StorageError):
    """The validator's signing record cannot be used; the node refuses to start rather than risk a double vote."""


@dataclass(frozen=True)
class NodeConfig:
    datadir: Path
    genesis_path: Path
    key_path: Path
    role: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    bootstrap: tuple[str, ...] = ()
    block_interval_s: float = 1.0
    round_wait_s: float = 5.0
    sync_interval_s: float = 2.0
    status_interval_s: float = 2.0
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    audit: bool | None = None  # re-execute vesting receipts in the background; None: on for validators only
    audit_segments_per_minute: float = DEFAULT_SEGMENTS_PER_MINUTE

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")
        if not self.audit_segments_per_minute > 0:
            raise ValueError(f"audit_segments_per_minute must be positive, not {self.audit_segments_per_minute!r}")

    @property
    def audits(self) -> bool:
        return self.role == "validator" if self.audit is None else self.audit


class Node:
    """One node process; see the module docstring."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        config.datadir.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(1)  # many nodes share one machine in a devnet; heavy work is small
        self.genesis = load_genesis(config.genesis_path)
        self.key = load_key(config.key_path)
        self.chain = ChainManager.open(config.datadir / "chain.sqlite", self.genesis)
        self.blobs = BlobStore(config.datadir / "blobs")
        self.loop = EventLoop()
        self.mempool = Mempool()
        self.evidence: list[Evidence] = []
        # a trace stays while its receipt can be challenged (reward vesting), however many rounds follow
        self.traces = TraceBook(
            directory=config.datadir / TRACES_DIR, retain=lambda receipt: still_challengeable(receipt, self.chain.state)
        )
        self.committees = CommitteeBook(config.datadir / COMMITTEES_DIR)
        self.manifests = ManifestBook(config.datadir / MANIFESTS_DIR)
        self._remember_committees()
        # receipt id -> (peer that published it, task id, round): where to fetch its trace first.
        # Bounded, and pruned as rounds close (gossip admits only receipts for open rounds).
        self._origins: OrderedDict[bytes, tuple[str, bytes, int]] = OrderedDict()
        self._deferred: list[Proposal] = []
        self._syncing = False
        self._published: dict[bytes, tuple[WorkReceipt, float]] = {}
        self.late_receipts = 0  # this miner's receipts whose round closed without them
        self._peers: list[dict[str, Any]] = []  # last peer table snapshot, for the status file
        self._denied: set[str] = set()
        self._denied_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the deny list last read
        self.fatal_error: str | None = None  # why run() returned on its own (None: stopped by a signal or request)
        self.net = NetThread(
            NetConfig(
                chain_id=self.chain.params.chain_id,
                key_path=config.datadir / "p2p.key",
                listen_host=config.listen_host,
                listen_port=config.listen_port,
                bootstrap=config.bootstrap,
                heartbeat_s=0.5,
            ),
            Providers(
                headers=self.chain.signed_headers,
                block=self.chain.block,
                state_proof=self.chain.state_proof,
                blob=self._read_blob,
            ),
            on_gossip=self._on_gossip,
        )
        self.work = TrainingWork(
            self.chain.params.chain_id,
            self.blobs,
            self._fetch_blob,
            self._fetch_trace,
            key=self.key,
            manifest=self.dataset_manifest,
        )
        is_validator = config.role == "validator"
        self.desk = (
            RoundDesk(self._schedule_verify, self._schedule_aggregate, config.round_wait_s) if is_validator else None
        )
        self.fraud = (
            FraudDesk(
                self._schedule_fraud_check,
                lambda proof, head: round_view(self.chain.store.block_by_height, proof, head),
            )
            if is_validator
            else None
        )
        self.miner = MinerDesk(self.key, self._schedule_train) if config.role == "miner" else None
        self.auditor = (
            Auditor(AuditConfig(segments_per_minute=config.audit_segments_per_minute)) if config.audits else None
        )
        self._audit_backfill()
        self._resume_receipts()
        self.signing = SigningStateStore(config.datadir / SIGNING_RECORD_FILE) if is_validator else None
        self.resume = ResumeStateStore(config.datadir / RESUME_RECORD_FILE) if is_validator else None
        self.engine = BftEngine(
            self.chain.params.chain_id,
            self,
            self.key if is_validator else None,
            config.timeouts,
            signing_record=self._load_signing_record(),
            resume_record=self._load_resume_record(),
        )

    def _resume_receipts(self) -> None:
        """Receipts this key signed before a restart: republish them (until their round closes) and
        do not train those rounds again; their traces are served from disk."""
        for receipt in self.traces.receipts():
            if receipt.miner != self.key.public_key:
                continue
            self._published[receipt.receipt_id] = (receipt, float("-inf"))  # republished at the first tick
            if self.miner is not None:
                self.miner.mark_started(receipt.task_id, receipt.round)
            log.info(
                "resuming receipt for round %d of task %s (trace on disk)", receipt.round, receipt.task_id.hex()[:16]
            )

    def _load_signing_record(self) -> SigningRecord | None:
        """The saved signing record of this validator; SigningRecordError if it cannot be trusted."""
        if self.signing is None:
            return None
        path = self.signing.path
        hint = (
            f"refusing to start: without it this validator could sign a vote that contradicts one it signed "
            f"before. Move {path} away only once the chain has finalised past the height it names"
        )
        try:
            record = self.signing.load()
        except StorageError as exc:
            raise SigningRecordError(f"{exc}; {hint}") from None
        if record is None:
            return None
        chain_id = self.chain.params.chain_id
        if record.chain_id != chain_id:
            raise SigningRecordError(
                f"the signing record {path} is for chain {record.chain_id!r}, not {chain_id!r}; {hint}"
            )
        if record.member != self.key.public_key:
            raise SigningRecordError(
                f"the signing record {path} belongs to another key than {self.config.key_path}; {hint}"
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

    def _load_resume_record(self) -> ResumeRecord | None:
        """The saved resume record; one that is unreadable or not this key's is set aside (it only helps liveness)."""
        if self.resume is None:
            return None
        try:
            record = self.resume.load()
        except StorageError as exc:
            log.warning("%s; starting without it (a lock held alone may cost this height a few views)", exc)
            return None
        if record is not None and (
            record.chain_id != self.chain.params.chain_id or record.member != self.key.public_key
        ):
            log.warning("the resume record %s is for another chain or key; starting without it", self.resume.path)
            return None
        return record

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        self.net.start()
        validator = gossip.make_validator(lambda: self.chain.state)
        self.net.call(lambda h: self._install(h, validator))
        log.info(
            "node %s (%s) at height %d listening on %s",
            self.key.address.hex()[:12],
            self.config.role,
            self.chain.height,
            self.net.listen_addrs,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.loop.stop())
        self.loop.post(self._after_commit)
        self.loop.call_later(self.config.sync_interval_s, self._sync_tick)
        self.loop.call_later(self.config.status_interval_s, self._status_tick)
        if self.auditor is not None:
            self.loop.call_later(AUDIT_TICK_S, self._audit_tick)
        try:
            self.loop.run()
        finally:
            log.info("stopping")
            self.net.stop()
            self.chain.close()

    async def _install(self, host, validator) -> None:  # type: ignore[no-untyped-def]
        for kind in host.config.topics:
            host.set_validator(kind, validator)
        host.serve(PROTOCOL_NAME, TraceRequest, self._serve_trace)
        host.serve(COMMITTEE_PROTOCOL, CommitteeRequest, self._serve_committee)
        host.serve(MANIFEST_PROTOCOL, ManifestRequest, self._serve_manifest)

    # ------------------------------------------------------------------ ConsensusApp

    def committee(self, height: int) -> Committee:
        return self.chain.state.next_committee

    def validate_block(self, block: Block) -> None:
        self.chain.trial(block)
        if self.desk is not None:
            self.desk.check_block(block)
        if self.fraud is not None:
            self.fraud.check_block(block)  # never vote to claw back a reward this member did not see proven

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        state = self.chain.state
        results, receipts = self.desk.ready(state) if self.desk is not None else ([], [])
        built = build_block(
            state,
            proposer,
            timestamp_ms=int(time.time() * 1000),
            view=view,
            transactions=self.mempool.pending(),
            results=results,
            receipts=receipts,
            evidence=list(self.evidence),
            fraud_proofs=self.fraud.ready(state) if self.fraud is not None else [],
        )
        for item, error in built.rejected:
            log.info("left %s out of block %d: %s", type(item).__name__, height, error)
            if isinstance(item, Evidence) and item in self.evidence:
                self.evidence.remove(item)
        if built.block.body.results:
            log.info("proposing block %d closing %d round(s)", height, len(built.block.body.results))
        if built.block.body.fraud_proofs:
            log.info("proposing block %d with %d fraud proof(s)", height, len(built.block.body.fraud_proofs))
        return built.block

    # ------------------------------------------------------------------ consensus driving

    def _act(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, PersistSigningState):
                self._save_signing_record(action.record)
            elif isinstance(action, PersistResumeState):
                self._save_resume_record(action.record)
            elif isinstance(action, BroadcastProposal):
                self._publish(action.proposal)
            elif isinstance(action, BroadcastVote):
                self._publish(action.vote)
            elif isinstance(action, ScheduleTimeout):
                self.loop.call_later(action.delay_ms / 1000, self._timeout, action.height, action.view, action.step)
            elif isinstance(action, CommitBlock):
                self._commit(action.block)
            elif isinstance(action, EvidenceFound):
                self._on_evidence_found(action.evidence)

    def _save_signing_record(self, record: SigningRecord) -> None:
        """Durably save the record before the signed message that follows it goes out.

        A validator that cannot save it must not sign: the node stops (the exception also abandons the
        rest of this action list, so the broadcast it covers is never sent).
        """
        assert self.signing is not None, "only a validator signs"
        try:
            self.signing.save(record)
        except OSError as exc:
            log.critical("cannot save the signing record %s (%s); stopping before signing", self.signing.path, exc)
            self.loop.stop()
            raise SigningRecordError(f"cannot save the signing record {self.signing.path}: {exc}") from exc

    def _save_resume_record(self, record: ResumeRecord) -> None:
        """Save what a restart needs to stay live; a failure is logged, not fatal (safety rests on the signing record)."""
        assert self.resume is not None, "only a validator signs"
        try:
            self.resume.save(record)
        except OSError as exc:
            log.warning("cannot save the resume record %s: %s", self.resume.path, exc)

    def _timeout(self, height: int, view: int, step: Step) -> None:
        self._act(self.engine.on_timeout(height, view, step))

    def _start_height(self, height: int) -> None:
        if height != self.chain.height + 1 or (self.engine.height is not None and self.engine.height >= height):
            return
        record = self.engine.snapshot()
        if record is not None and record.height == height and self.engine.height is None:
            lock = "no lock" if record.locked_hash is None else f"its lock on {record.locked_hash.hex()[:16]}"
            log.info("resuming height %d at view %d with %s", height, record.view, lock)
        self._act(self.engine.start_height(height))

    def _commit(self, block: Block) -> None:
        if block.header.height != self.chain.height + 1:
            return
        try:
            self.chain.commit(block)
        except PotError as exc:
            log.error("refused to commit block %d: %s", block.header.height, exc)
            return
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
        if self.auditor is not None and body.receipts:
            self.auditor.on_block(block, self.chain.state)
        self._after_commit()

    def _remember_committees(self) -> None:
        state = self.chain.state
        self.committees.add(state.committee)
        self.committees.add(state.next_committee)

    def _after_commit(self) -> None:
        state = self.chain.state
        self._remember_committees()
        self.mempool.refresh(state)
        self._prune_origins(state)
        self.evidence = [e for e in self.evidence if state.account(key_hash(e.vote_a.voter)).bond > 0]
        if self.desk is not None:
            self.desk.on_commit(state)
        if self.fraud is not None:
            self.fraud.on_commit(state)
        if self.miner is not None:
            self.miner.on_head(state)
        if self.auditor is not None:
            self.auditor.on_commit(state)
        self._deferred = [p for p in self._deferred if p.height > state.height]
        self._write_status()
        self.loop.call_later(self.config.block_interval_s, self._start_height, state.height + 1)

    def _on_evidence_found(self, evidence: Any) -> None:
        log.warning("equivocation evidence against %s", _culprit(evidence).hex()[:16])
        if isinstance(evidence, Evidence) and evidence not in self.evidence:
            self.evidence.append(evidence)
        self._publish(evidence)

    # ------------------------------------------------------------------ gossip in

    def _on_gossip(self, message: GossipMessage) -> None:
        self.loop.post(self._handle, message.record, message.origin)

    def _handle(self, record: Record, origin: str) -> None:
        state = self.chain.state
        try:
            if isinstance(record, Proposal):
                self._on_proposal(record)
            elif isinstance(record, Vote):
                if record.height > state.height + 1:
                    self._request_sync()
                self._act(self.engine.on_vote(record))
            elif isinstance(record, (Transfer, Bond, Unbond, TaskPost)):
                self._on_tx(record)
            elif isinstance(record, WorkReceipt):
                self._note_origin(record, origin)
                if self.desk is not None and self.desk.on_receipt(record, state, origin):
                    log.info("verifying receipt of %s for round %d", record.miner.hex()[:12], record.round)
            elif isinstance(record, FraudProof):
                self._on_fraud_proof(record)
            elif isinstance(record, Evidence):
                if record not in self.evidence:
                    self.evidence.append(record)
            elif isinstance(record, Block):
                if record.header.height == state.height + 1:
                    self._commit(record)
        except InvalidConsensusMessage as exc:
            log.info("dropped a consensus message from %s: %s", origin, exc)

    def _note_origin(self, receipt: WorkReceipt, origin: str) -> None:
        self._origins[receipt.receipt_id] = (origin, receipt.task_id, receipt.round)
        while len(self._origins) > MAX_ORIGINS:
            self._origins.popitem(last=False)

    def _prune_origins(self, state: ChainState) -> None:
        """Forget the origins of receipts whose round is no longer open."""
        for rid, (_, task_id, round_) in list(self._origins.items()):
            task = state.task(task_id)
            if task is None or task.round != round_:
                del self._origins[rid]

    def _on_tx(self, tx: AnyTransaction) -> None:
        try:
            if self.mempool.add(tx, self.chain.state):
                log.info("mempool took %s %s", type(tx).__name__, tx.tx_id.hex()[:16])
        except PotError as exc:
            log.info("mempool refused %s: %s", type(tx).__name__, exc)

    def _on_fraud_proof(self, proof: FraudProof) -> None:
        if self.fraud is None:
            return  # only a validator re-executes proofs and proposes them; others just relay
        try:
            if self.fraud.offer(proof, self.chain.state):
                log.info(
                    "re-executing a fraud proof against receipt %s (segment %d)",
                    proof.receipt_id.hex()[:16],
                    proof.segment,
                )
        except PotError as exc:
            log.info("refused a fraud proof against receipt %s: %s", proof.receipt_id.hex()[:16], exc)

    def _on_proposal(self, proposal: Proposal) -> None:
        state = self.chain.state
        if proposal.height > state.height + 1:
            self._request_sync()
        block = proposal.block
        if self.desk is not None and proposal.height == state.height + 1:
            # Every check is started before waiting, so receipts and fraud proofs re-execute together.
            missing = bool(block.body.receipts or block.body.results) and self.desk.missing_work(block, state)
            if self.fraud is not None and block.body.fraud_proofs:
                missing = self.fraud.missing_work(block, state) or missing
            if missing:
                if proposal not in self._deferred:
                    self._deferred.append(proposal)
                return
        self._act(self.engine.on_proposal(proposal))

    def _retry_deferred(self) -> None:
        state = self.chain.state
        waiting, self._deferred = self._deferred, []
        for proposal in waiting:
            if proposal.height == state.height + 1:
                self._on_proposal(proposal)

    def _publish(self, record: Record) -> None:
        future = self.net.submit(lambda h: h.publish(record))
        future.add_done_callback(lambda f: f.exception() and log.info("publish failed: %s", f.exception()))

    # ------------------------------------------------------------------ training work

    def _schedule_verify(self, receipt: WorkReceipt, view: TaskView) -> None:
        def done(checked: Checked | None, error: BaseException | None) -> None:
            verdict = checked.verdict if checked is not None else None
            accepted = verdict is not None and verdict.accepted
            why = f"{verdict.reason}: {verdict.detail}" if verdict is not None else repr(error)
            log.info(
                "receipt of %s round %d: %s",
                receipt.miner.hex()[:12],
                receipt.round,
                "verified" if accepted else f"{'NOT CHECKED, will retry' if verdict is None else 'REJECTED'} ({why})",
            )
            if verdict is not None and verdict.reason == UNAVAILABLE:
                log.warning(
                    "miner %s withheld challenged data of receipt %s (segments %s)",
                    receipt.miner.hex()[:12],
                    receipt.receipt_id.hex()[:16],
                    list(checked.segments) if checked else [],
                )
            assert self.desk is not None
            self.desk.verified(receipt, verdict, self.chain.state, checked.segments if checked is not None else ())
            self._retry_deferred()

        def gathered(got: Gathered | Checked | None, error: BaseException | None) -> None:
            if got is None or isinstance(got, Checked):
                done(got, error)
            else:  # everything is local now: re-execute on the verification thread
                self.loop.run_verify(lambda: self.work.replay(receipt, view, got), done)

        self.loop.run_fetch(lambda: self.work.gather(receipt, view), gathered)

    def _schedule_fraud_check(self, proof: FraudProof, view: TaskView) -> None:
        def done(verdict: Verdict | None, error: BaseException | None) -> None:
            if verdict is None:
                verdict = Verdict(False, "unavailable", f"the re-execution failed: {error!r}")
            log.info(
                "fraud proof against receipt %s segment %d: %s (%s)",
                proof.receipt_id.hex()[:16],
                proof.segment,
                verdict.reason,
                verdict.detail,
            )
            assert self.fraud is not None
            self.fraud.checked(proof, verdict)
            self._retry_deferred()

        self.loop.run_in_worker(lambda: self.work.check_fraud(proof, view), done)

    def _schedule_aggregate(self, key: AggKey, receipts: list[WorkReceipt], head: ChainState) -> None:
        task = head.task(key[0])
        assert task is not None

        def done(agg: Aggregate | None, error: BaseException | None) -> None:
            if agg is None:
                log.error("aggregating round %d failed: %r", key[1], error)
            else:
                log.info(
                    "aggregated round %d over %d receipts: validation loss %.4f",
                    key[1],
                    len(receipts),
                    agg.validation_loss,
                )
            assert self.desk is not None
            self.desk.aggregated(key, agg.result if agg is not None else None)
            self._retry_deferred()

        self.loop.run_in_worker(lambda: self.work.aggregate(key[0], key[1], task.spec, task.checkpoint, receipts), done)

    def _schedule_train(self, job: RoundJob) -> None:
        def done(out: RoundOutput | None, error: BaseException | None) -> None:
            if out is None:
                log.error("training round %d failed: %r", job.round, error)
                return
            self.traces.add(out.trace, out.receipt)  # on disk before the receipt goes out
            self._published[out.receipt.receipt_id] = (out.receipt, time.monotonic())
            log.info("trained round %d: final loss %.4f", job.round, out.receipt.final_loss_micro / 1e6)
            self._publish(out.receipt)

        self.loop.run_in_worker(lambda: train(job, self.key, self.work, self.config.datadir / "resume"), done)

    # ------------------------------------------------------------------ auditing

    def _audit_backfill(self) -> None:
        """After a restart, audit again the receipts of the blocks whose rewards may still vest."""
        if self.auditor is None:
            return
        state = self.chain.state
        for height in backfill_heights(state):
            block = self.chain.store.block_by_height(height)
            if block is not None and block.body.receipts:
                self.auditor.on_block(block, state)

    def _audit_tick(self) -> None:
        """Hand the next audit to the low-priority thread (rate-limited by the auditor; one at a time)."""
        assert self.auditor is not None
        self.loop.call_later(AUDIT_TICK_S, self._audit_tick)
        job = self.auditor.next_job()
        if job is None:
            return
        state = self.chain.state
        try:
            view = receipt_view(self.chain.store.block_by_height, job.receipt, state)
        except PotError as exc:
            self.auditor.finished(job, AuditOutcome("inconclusive", str(exc)), state.height)
            return
        self.loop.run_low(
            lambda: audit_segment(self.work, job, view, self.key.address),
            lambda outcome, error: self._audited(job, outcome, error),
        )

    def _audited(self, job: AuditJob, outcome: AuditOutcome | None, error: BaseException | None) -> None:
        assert self.auditor is not None
        if outcome is None:
            outcome = AuditOutcome("inconclusive", repr(error))
        self.auditor.finished(job, outcome, self.chain.height)
        rid = job.receipt.receipt_id.hex()[:16]
        if outcome.proof is not None:
            log.warning(
                "audit: segment %d of receipt %s (miner %s, included at %d) is fraudulent (%s); "
                "publishing the fraud proof",
                job.segment,
                rid,
                job.receipt.miner.hex()[:12],
                job.included_at,
                outcome.detail,
            )
            self._publish(outcome.proof)
            self._on_fraud_proof(outcome.proof)
        elif outcome.kind == "withheld":
            log.warning(
                "audit: the miner %s of receipt %s did not serve segment %d: %s",
                job.receipt.miner.hex()[:12],
                rid,
                job.segment,
                outcome.detail,
            )
        else:
            log.info("audit: segment %d of receipt %s: %s %s", job.segment, rid, outcome.kind, outcome.detail)

    def _republish_receipts(self) -> None:
        """Gossip is best effort: repeat a receipt until its round closes (validators deduplicate)."""
        state = self.chain.state
        now = time.monotonic()
        for rid, (receipt, at) in list(self._published.items()):
            task = state.task(receipt.task_id)
            if task is None or task.round != receipt.round:
                del self._published[rid]
                if state.pending_reward(rid) is None:  # the round closed without it: refused as late
                    self.late_receipts += 1
                    log.warning(
                        "round %d of task %s closed without this node's receipt: it came too late and is "
                        "not carried over (docs/PROTOCOL.md, round timing)",
                        receipt.round,
                        receipt.task_id.hex()[:16],
                    )
            elif now - at >= RECEIPT_REPUBLISH_S:
                self._published[rid] = (receipt, now)
                self._publish(receipt)

    def _fetch_blob(self, digest: bytes) -> bytes:
        return self.net.call(lambda h: h.fetch_blob(digest), timeout_s=120)

    def _fetch_trace(self, receipt: WorkReceipt) -> TrainingTrace:
        """The receipt's trace from its publisher, else from a few other peers, each within a short deadline."""
        origin = self._origins.get(receipt.receipt_id, (None, b"", 0))[0]
        peers = self.net.call(lambda h: sync._connected(h))
        others = [p for p in peers if p != origin]
        # a known publisher first, then a few others; with none known (a proposal's receipt, an audit of
        # an old one) every connected peer: those without the trace answer "not found" at once
        order = [origin, *others[:TRACE_FALLBACK_PEERS]] if origin else others
        root = receipt.commitments_root
        errors = []
        for peer in order:
            try:
                trace = self.net.call(
                    lambda h: request_trace(h, peer, root, publisher=peer == origin), timeout_s=TRACE_DEADLINE_S + 5
                )
                if trace.root == root:
                    return trace
                errors.append(f"{peer}: wrong trace")
            except Exception as exc:  # noqa: BLE001 - try the next peer
                errors.append(f"{peer}: {exc}")
        raise LookupError(f"no peer served the trace ({'; '.join(errors) or 'no peers'})")

    async def _serve_trace(self, peer: str, req: TraceRequest) -> TraceResponse | ErrorResponse:
        trace = self.traces.get(req.commitments_root)
        if trace is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such trace")
        return TraceResponse(trace=trace)

    def dataset_manifest(self, root: bytes) -> DatasetManifest:
        """The shard list of dataset `root`: known here (shipped, posted, fetched before) or from a peer,
        checked against the root and kept (blocking: call off the event loop)."""
        known = self.manifests.get(root)
        if known is not None:
            return known
        errors = []
        for peer in self.net.call(lambda h: sync._connected(h)):
            try:
                manifest = self.net.call(lambda h: request_manifest(h, peer, root), timeout_s=MANIFEST_DEADLINE_S + 5)
                self.manifests.add(manifest)
                return manifest
            except Exception as exc:  # noqa: BLE001 - try the next peer
                errors.append(f"{peer}: {exc}")
        raise ManifestUnavailable(f"no peer served the data set {root.hex()[:16]} ({'; '.join(errors) or 'no peers'})")

    async def _serve_manifest(self, peer: str, req: ManifestRequest) -> ManifestResponse | ErrorResponse:
        manifest = self.manifests.get(req.dataset_root)
        if manifest is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such data set")
        return ManifestResponse(manifest=manifest)

    async def _serve_committee(self, peer: str, req: CommitteeRequest) -> CommitteeResponse | ErrorResponse:
        committee = self.committees.get(req.committee_hash)
        if committee is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such committee")
        return CommitteeResponse(committee=committee)

    def _read_blob(self, digest: bytes, offset: int, length: int) -> tuple[int, bytes] | None:
        try:
            path = self.blobs.path_of(digest)
            with open(path, "rb") as f:
                size = path.stat().st_size
                f.seek(offset)
                return size, f.read(length)
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ sync and status

    def _sync_tick(self) -> None:
        if self.net.failed is not None:
            # A node without its network host is deaf and mute: it would sit there looking alive
            # (status file, RPC) while it can neither follow the chain nor sign. Stop, say why.
            self.fatal_error = f"the network host stopped: {self.net.failed!r}"
            log.critical("%s; stopping the node", self.fatal_error)
            self.loop.stop()
            return
        self._apply_denied_peers()
        self._request_sync()
        if self.desk is not None:
            self.desk.poll(self.chain.state)
        self._republish_receipts()
        self.loop.call_later(self.config.sync_interval_s, self._sync_tick)

    def _apply_denied_peers(self) -> None:
        """Follow `<datadir>/denied_peers`: ban the peers listed (no connection, no gossip, no dial),
        lift the ban of those removed. Read again only when the file changes."""
        path = self.config.datadir / DENIED_PEERS_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
            text = path.read_text(encoding="utf-8") if stamp != self._denied_stamp else None
        except FileNotFoundError:
            stamp, text = None, ""
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read the deny list %s: %s", path, exc)
            return
        if text is None or (stamp is None and self._denied_stamp is None and not self._denied):
            return
        self._denied_stamp = stamp
        wanted = {line.split("#", 1)[0].strip() for line in text.splitlines()} - {""}
        added, removed = wanted - self._denied, self._denied - wanted
        self._denied = wanted
        if added or removed:
            log.info("deny list: banning %d peer(s), lifting %d", len(added), len(removed))
            self.net.submit(lambda h: _apply_denials(h, added, removed))

    def _request_sync(self) -> None:
        if self._syncing:
            return
        self._syncing = True
        state = self.chain.state

        def done(blocks: list[Block] | None, error: BaseException | None) -> None:
            self._syncing = False
            if error is not None:
                log.info("sync failed: %r", error)
            for block in blocks or []:
                before = self.chain.height
                self._commit(block)
                if self.chain.height == before:
                    break
            if blocks:
                self._request_sync()

        self.loop.run_io(lambda: sync.fetch_ahead(self.net, state.height, state.head_hash), done)

    def _status_tick(self) -> None:
        self._write_status()
        self.loop.call_later(self.config.status_interval_s, self._status_tick)

    def _write_status(self) -> None:
        self._refresh_peers()
        extra = {
            "peer_id": self.net.peer_id,
            "listen": self.net.listen_addrs,
            "mempool": len(self.mempool),
            "engine_view": self.engine.view,
            "written_at": time.time(),
        }
        if self.miner is not None:
            extra["late_receipts"] = self.late_receipts
        if self.desk is not None:
            extra["late_refused"] = self.desk.late_refused
        if self.auditor is not None:
            st = self.auditor.stats
            extra["audit"] = {
                "segments": st.segments,
                "frauds": st.frauds,
                "withheld": st.withheld,
                "tracked": len(self.auditor),
            }
        write_status(
            self.config.datadir,
            snapshot(
                self.chain.state, role=self.config.role, key_address=self.key.address, peers=self._peers, extra=extra
            ),
        )

    def _refresh_peers(self) -> None:
        """Ask the network thread for the peer table without waiting (a loaded host answers late)."""

        def done(future: Any) -> None:
            if future.exception() is None:
                self._peers = [
                    {
                        "peer_id": p.peer_id,
                        "score": round(p.score, 2),
                        "banned": p.banned,
                        "connected": p.connected,
                        "offences": p.offences,
                    }
                    for p in future.result()
                ]

        self.net.submit(lambda h: _peers(h)).add_done_callback(done)

    # public surface for the daemon's port (app/daemon/node_port.py)
    def publish_own_receipt(self, receipt: WorkReceipt) -> None:
        """Gossip this miner's `receipt` now and again until its round closes. On the node's loop."""
        self._published[receipt.receipt_id] = (receipt, time.monotonic())
        self._publish(receipt)


async def _peers(host):  # type: ignore[no-untyped-def]
    return host.peers()


async def _apply_denials(host, added: set[str], removed: set[str]) -> None:  # type: ignore[no-untyped-def]
    for peer in sorted(added):
        try:
            host.ban(peer, DENY_SECONDS)
        except Exception as exc:  # noqa: BLE001 - a line that is not a peer id
            log.warning("deny list: %r is not a peer id (%s)", peer, exc)
    for peer in sorted(removed):
        host.unban(peer)


def _culprit(evidence: Any) -> bytes:
    return evidence.vote_a.voter if isinstance(evidence, Evidence) else evidence.proposer
