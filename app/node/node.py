"""The node's composition root: storage, state, network, BFT engine and training, wired explicitly.

`Node(config).run()` blocks until SIGINT/SIGTERM. Roles: a *validator* drives the BFT engine with its
key, verifies receipts and aggregates rounds; a *miner* trains open rounds in its training worker
process (`NodeTrainer`, training.py), signs the receipts and gossips them; a *full* node follows and
serves the chain. Every role observes consensus (an engine without a key
commits a block once it sees a quorum of precommits) and catches up by header-first sync.

`Node` is the composition: it owns the stores, the network thread, the desks and the engine, and
hands the work to three parts that each hold a reference back to it: `GossipRouter` (routing.py:
gossip in and out, receipt origins, serving and fetching from peers, the deny list),
`ConsensusDriver` (consensus.py: the BFT engine's I/O, proposals, votes, commits) and `WorkScheduler`
(scheduler.py: training, verification, aggregation and audits on the loop's threads). Sync and the
status file stay here.
"""

from __future__ import annotations

import logging
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from app.core.bft import BftEngine, ResumeStateStore, SigningStateStore, Step, TimeoutConfig
from app.core.blobstore import BlobStore
from app.core.encoding import Record
from app.core.genesis import load_genesis
from app.core.state import ChainState
from app.core.types import Block, Committee, Evidence, WorkReceipt
from app.miner.loop import RoundJob
from app.miner.recompute import CheckpointRecomputer
from app.miner.sparse_record import sparse_dir
from app.miner.worker import DeviceSettings
from app.net.facade import NetThread
from app.net.host import NetConfig
from app.net.messages import ErrorResponse
from app.net.protocols import Providers
from app.node import gossip, sync
from app.node.auditor import AUDIT_TICK_S, DEFAULT_SEGMENTS_PER_MINUTE, AuditConfig, Auditor
from app.node.chain import ChainManager
from app.node.committees import CommitteeBook, CommitteeRequest, CommitteeResponse
from app.node.consensus import ConsensusDriver, SigningRecordError as SigningRecordError
from app.node.fraud import FraudDesk, round_view
from app.node.keys import load_key
from app.node.loop import EventLoop
from app.node.manifests import ManifestBook
from app.node.mempool import Mempool
from app.node.mining import MinerDesk
from app.node.rounds import RoundDesk
from app.node.routing import (
    DENIED_PEERS_FILE as DENIED_PEERS_FILE,
    DENY_SECONDS as DENY_SECONDS,
    MAX_ORIGINS as MAX_ORIGINS,
    GossipRouter,
)
from app.node.scheduler import RECEIPT_REPUBLISH_S as RECEIPT_REPUBLISH_S, WorkScheduler
from app.node.status import snapshot, write_status
from app.node.traces import TraceBook, still_challengeable
from app.node.training import NODE_DEVICE, NodeTrainer, round_is_open
from app.node.work import TrainingWork
from app.pot.datasets import DatasetManifest

log = logging.getLogger(__name__)

ROLES = ("validator", "miner", "full")
SIGNING_RECORD_FILE = "signing.record"  # the BFT signing record of a validator (docs/PROTOCOL.md, Part 3)
RESUME_RECORD_FILE = "signing.resume"  # its valid proposal, proof of lock and last votes (liveness after restarts)
MANIFESTS_DIR = "manifests"  # dataset manifests posted here or fetched from peers (app/node/manifests.py)
RESUME_DIR = "resume"  # a miner's round in progress (app/miner/resume.py); its sparse rounds in "resume-sparse"
TRACES_DIR = "traces"  # a miner's checkpoint traces and the receipts signed with them (app/node/traces.py)
COMMITTEES_DIR = "committees"  # every committee this chain elected, served to light clients (committees.py)


@dataclass(frozen=True)
class NodeConfig:
    datadir: Path
    genesis_path: Path
    key_path: Path
    role: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 0
    bootstrap: tuple[str, ...] = ()
    announce: tuple[str, ...] = ()  # addresses peers should dial instead of the listen address (a forwarder's)
    block_interval_s: float = 1.0
    round_wait_s: float = 5.0
    sync_interval_s: float = 2.0
    status_interval_s: float = 2.0
    timeouts: TimeoutConfig = field(default_factory=TimeoutConfig)
    audit: bool | None = None  # re-execute vesting receipts in the background; None: on for validators only
    audit_segments_per_minute: float = DEFAULT_SEGMENTS_PER_MINUTE
    training: DeviceSettings = NODE_DEVICE  # a miner's rounds, in its worker process: the CPU, one thread

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
        self.router = GossipRouter(self)  # gossip in and out, serving and fetching from peers, the deny list
        self.consensus = ConsensusDriver(self)  # the BFT engine's I/O, proposals, votes and commits
        self.scheduler = WorkScheduler(self)  # training, verification, aggregation and audits on the loop's threads
        self.consensus.remember_committees()
        self._syncing = False
        self.late_receipts = 0  # this miner's receipts whose round closed without them
        self.fatal_error: str | None = None  # why run() returned on its own (None: stopped by a signal or request)
        self.net = NetThread(
            NetConfig(
                chain_id=self.chain.params.chain_id,
                key_path=config.datadir / "p2p.key",
                listen_host=config.listen_host,
                listen_port=config.listen_port,
                bootstrap=config.bootstrap,
                announce=config.announce,
                heartbeat_s=0.5,
            ),
            Providers(
                headers=self.chain.signed_headers,
                block=self.chain.block,
                state_proof=self.chain.state_proof,
                state_entries=self.chain.state_entries,
                blob=self.router.read_blob,
                history=self.chain.history,  # a light client's proven transaction history
            ),
            on_gossip=self.router.on_gossip,
        )
        self.work = TrainingWork(
            self.chain.params.chain_id,
            self.blobs,
            self.router.fetch_blob,
            self.router.fetch_trace,
            key=self.key,
            manifest=self.dataset_manifest,
            fetch_challenged=self.router.fetch_blob,
        )
        # a miner serves the checkpoints it dropped (a large model's round) by re-computing them on request
        self.recompute = (
            CheckpointRecomputer(sparse_dir(config.datadir / RESUME_DIR), self.blobs, self.work.training_data)
            if config.role == "miner"
            else None
        )
        self._make_desks()
        self.scheduler.audit_backfill()
        self.scheduler.resume_receipts()
        is_validator = config.role == "validator"
        self.signing = SigningStateStore(config.datadir / SIGNING_RECORD_FILE) if is_validator else None
        self.resume = ResumeStateStore(config.datadir / RESUME_RECORD_FILE) if is_validator else None
        self.engine = BftEngine(
            self.chain.params.chain_id,
            self,
            self.key if is_validator else None,
            config.timeouts,
            signing_record=self.consensus.load_signing_record(),
            resume_record=self.consensus.load_resume_record(),
        )

    def _make_desks(self) -> None:
        """The role's desks: rounds and fraud proofs (validator), training (miner), audits (by config)."""
        config, scheduler = self.config, self.scheduler
        is_validator = config.role == "validator"
        self.desk = (
            RoundDesk(scheduler.schedule_verify, scheduler.schedule_aggregate, config.round_wait_s)
            if is_validator
            else None
        )
        self.fraud = (
            FraudDesk(
                scheduler.schedule_fraud_check,
                lambda proof, head: round_view(self.chain.store.block_by_height, proof, head),
            )
            if is_validator
            else None
        )
        # through this node's own method, so a subclass that trains differently is the one called
        self.miner = MinerDesk(self.key, self._schedule_train) if config.role == "miner" else None
        self.trainer = (
            NodeTrainer(
                loop=self.loop,
                key=self.key,
                work=self.work,
                resume_root=config.datadir / RESUME_DIR,
                is_open=lambda job: round_is_open(self.chain.state, job),
                deliver=scheduler.own_receipt,
                device=config.training,
            )
            if config.role == "miner"
            else None
        )  # its worker process starts with the first round to train
        self.auditor = (
            Auditor(AuditConfig(segments_per_minute=config.audit_segments_per_minute)) if config.audits else None
        )

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        try:
            self.net.start()
        except BaseException:
            self.chain.close()  # nothing ran yet: the store closes clean, and the caller says why
            raise
        validator = gossip.make_validator(lambda: self.chain.state)
        self.net.call(lambda h: self.router.install(h, validator))
        log.info(
            "node %s (%s) at height %d listening on %s",
            self.key.address.hex()[:12],
            self.config.role,
            self.chain.height,
            self.net.listen_addrs,
        )
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.loop.stop())
        if self.trainer is not None:
            self.trainer.start()  # the worker's spawn and torch import overlap the sync, not the first round
        self.loop.post(self.consensus.after_commit)
        self.loop.call_later(self.config.sync_interval_s, self._sync_tick)
        self.loop.call_later(self.config.status_interval_s, self._status_tick)
        if self.auditor is not None:
            self.loop.call_later(AUDIT_TICK_S, self.scheduler.audit_tick)
        try:
            self.loop.run()
        finally:
            log.info("stopping")
            if self.trainer is not None:
                self.trainer.close()  # the worker process saves a round in progress and exits
            self.net.stop()
            self.chain.close()
            if self.recompute is not None:
                self.recompute.close()

    # ------------------------------------------------------------------ ConsensusApp (the engine asks the node)

    def committee(self, height: int) -> Committee:
        return self.consensus.committee(height)

    def validate_block(self, block: Block) -> None:
        self.consensus.validate_block(block)

    def build_block(self, height: int, view: int, proposer: bytes) -> Block:
        return self.consensus.build_block(height, view, proposer)

    def dataset_manifest(self, root: bytes) -> DatasetManifest:
        """The shard list of dataset `root`, here or from a peer (blocking: call off the event loop)."""
        return self.router.dataset_manifest(root)

    # ------------------------------------------------------------------ the parts' entry points, by their old names
    # (the daemon's node port, tests and subclasses such as tests/adversarial/lazy_miner.py use these)

    @property
    def _origins(self) -> dict[bytes, tuple[str, bytes, int]]:
        return self.router.origins

    @property
    def _published(self) -> dict[bytes, tuple[WorkReceipt, float]]:
        return self.scheduler.published

    def _handle(self, record: Record, origin: str) -> None:
        self.router.handle(record, origin)

    def _prune_origins(self, state: ChainState) -> None:
        self.router.prune_origins(state)

    def _publish(self, record: Record) -> None:
        self.router.publish(record)

    async def _serve_committee(self, peer: str, req: CommitteeRequest) -> CommitteeResponse | ErrorResponse:
        return await self.router.serve_committee(peer, req)

    def _act(self, actions: list[Any]) -> None:
        self.consensus.act(actions)

    def _timeout(self, height: int, view: int, step: Step) -> None:
        self.consensus.timeout(height, view, step)

    def _commit(self, block: Block) -> None:
        self.consensus.commit(block)

    def _schedule_train(self, job: RoundJob) -> None:
        self.scheduler.schedule_train(job)

    # ------------------------------------------------------------------ sync and status

    def _sync_tick(self) -> None:
        if self.net.failed is not None:
            # A node without its network host is deaf and mute: it would sit there looking alive
            # (status file, RPC) while it can neither follow the chain nor sign. Stop, say why.
            self.fatal_error = f"the network host stopped: {self.net.failed!r}"
            log.critical("%s; stopping the node", self.fatal_error)
            self.loop.stop()
            return
        self.router.apply_denied_peers()
        self._request_sync()
        if self.desk is not None:
            self.desk.poll(self.chain.state)
        self.scheduler.republish_receipts()
        self.loop.call_later(self.config.sync_interval_s, self._sync_tick)

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
                self.consensus.commit(block)
                if self.chain.height == before:
                    break
            if blocks:
                self._request_sync()

        self.loop.run_io(lambda: sync.fetch_ahead(self.net, state.height, state.head_hash), done)

    def _status_tick(self) -> None:
        self._write_status()
        self.loop.call_later(self.config.status_interval_s, self._status_tick)

    def _write_status(self) -> None:
        self.router.refresh_peers()
        extra = {
            "peer_id": self.net.peer_id,
            "listen": self.net.listen_addrs,
            "mempool": len(self.mempool),
            "engine_view": self.engine.view,
            "written_at": time.time(),
        }
        if self.miner is not None:
            extra["late_receipts"] = self.late_receipts
        if self.trainer is not None:
            t = self.trainer
            extra["training"] = {
                "worker_pid": t.worker_pid,
                "rounds": t.trained,
                "failed": t.failed,
                "restarts": t.worker.restarts,
            }
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
                self.chain.state,
                role=self.config.role,
                key_address=self.key.address,
                peers=self.router.peers,
                extra=extra,
            ),
        )

    # public surface for the daemon's port (app/daemon/node_port.py)
    def publish_own_receipt(self, receipt: WorkReceipt) -> None:
        """Gossip this miner's `receipt` now and again until its round closes. On the node's loop."""
        self.scheduler.published[receipt.receipt_id] = (receipt, time.monotonic())
        self.router.publish(receipt)
