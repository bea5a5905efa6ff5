"""The node's gossip routing and peer-facing side: what comes in on each topic, what goes out, and
what it serves to and fetches from peers.

`GossipRouter` belongs to one `Node` (app/node/node.py) and runs on its event loop: every gossiped
record is posted there and sent on by kind (proposals and votes to the consensus driver, transactions
to the mempool, receipts to the round desk, fraud proofs to the fraud desk). It remembers which peer
published a receipt (bounded, pruned as rounds close) so its trace is fetched from that peer first,
and follows the operator's deny list. It also answers the node's request-response protocols (traces,
committees, data-set manifests, blobs) and fetches those from peers for the training work.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from app.core.encoding import Record
from app.core.errors import InvalidConsensusMessage, PotError
from app.core.state import ChainState
from app.core.types import (
    AnyTransaction,
    Block,
    Bond,
    Evidence,
    FraudProof,
    Proposal,
    TaskPost,
    Transfer,
    Unbond,
    Vote,
    WorkReceipt,
)
from app.net.host import GossipMessage
from app.net.messages import ERR_NOT_FOUND, ErrorResponse
from app.node import sync
from app.node.blob_serving import read_or_recompute
from app.node.committees import PROTOCOL_NAME as COMMITTEE_PROTOCOL, CommitteeRequest, CommitteeResponse
from app.node.manifests import (
    PROTOCOL_NAME as MANIFEST_PROTOCOL,
    ManifestRequest,
    ManifestResponse,
    find_manifest,
)
from app.node.traces import (
    PROTOCOL_NAME,
    TRACE_DEADLINE_S,
    TRACE_FALLBACK_PEERS,
    TraceRequest,
    TraceResponse,
    request_trace,
)
from app.pot.datasets import DatasetManifest
from app.pot.proof import TrainingTrace

if TYPE_CHECKING:
    from app.node.node import Node

log = logging.getLogger("app.node.node")  # the node's log lines keep one logger name, whichever part writes them

DENIED_PEERS_FILE = "denied_peers"  # operator's deny list: one peer id per line, '#' starts a comment
DENY_SECONDS = 10 * 365 * 86400.0  # a denied peer stays banned until it leaves the file
MAX_ORIGINS = 4096  # receipts whose publishing peer is remembered (oldest forgotten first)


class GossipRouter:
    """Gossip in and out, peer serving and fetching, the deny list and the peer table of one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        # receipt id -> (peer that published it, task id, round): where to fetch its trace first.
        # Bounded, and pruned as rounds close (gossip admits only receipts for open rounds).
        self.origins: OrderedDict[bytes, tuple[str, bytes, int]] = OrderedDict()
        self.peers: list[dict[str, Any]] = []  # last peer table snapshot, for the status file
        self._denied: set[str] = set()
        self._denied_stamp: tuple[int, int] | None = None  # (mtime_ns, size) of the deny list last read

    async def install(self, host, validator) -> None:  # type: ignore[no-untyped-def]
        """On the network thread: check every topic with `validator`, serve the node's protocols."""
        for kind in host.config.topics:
            host.set_validator(kind, validator)
        host.serve(PROTOCOL_NAME, TraceRequest, self.serve_trace)
        host.serve(COMMITTEE_PROTOCOL, CommitteeRequest, self.serve_committee)
        host.serve(MANIFEST_PROTOCOL, ManifestRequest, self.serve_manifest)

    # ------------------------------------------------------------------ gossip in

    def on_gossip(self, message: GossipMessage) -> None:
        self.node.loop.post(self.handle, message.record, message.origin)

    def handle(self, record: Record, origin: str) -> None:
        node = self.node
        state = node.chain.state
        try:
            if isinstance(record, Proposal):
                node.consensus.on_proposal(record)
            elif isinstance(record, Vote):
                if record.height > state.height + 1:
                    node._request_sync()
                node.consensus.act(node.engine.on_vote(record))
            elif isinstance(record, (Transfer, Bond, Unbond, TaskPost)):
                self.on_tx(record)
            elif isinstance(record, WorkReceipt):
                self.note_origin(record, origin)
                if node.desk is not None and node.desk.on_receipt(record, state, origin):
                    log.info("verifying receipt of %s for round %d", record.miner.hex()[:12], record.round)
            elif isinstance(record, FraudProof):
                self.on_fraud_proof(record)
            elif isinstance(record, Evidence):
                if record not in node.evidence:
                    node.evidence.append(record)
            elif isinstance(record, Block):
                if record.header.height == state.height + 1:
                    node.consensus.commit(record)
        except InvalidConsensusMessage as exc:
            log.info("dropped a consensus message from %s: %s", origin, exc)

    def note_origin(self, receipt: WorkReceipt, origin: str) -> None:
        self.origins[receipt.receipt_id] = (origin, receipt.task_id, receipt.round)
        while len(self.origins) > MAX_ORIGINS:
            self.origins.popitem(last=False)

    def prune_origins(self, state: ChainState) -> None:
        """Forget the origins of receipts whose round is no longer open."""
        for rid, (_, task_id, round_) in list(self.origins.items()):
            task = state.task(task_id)
            if task is None or task.round != round_:
                del self.origins[rid]

    def on_tx(self, tx: AnyTransaction) -> None:
        try:
            if self.node.mempool.add(tx, self.node.chain.state):
                log.info("mempool took %s %s", type(tx).__name__, tx.tx_id.hex()[:16])
        except PotError as exc:
            log.info("mempool refused %s: %s", type(tx).__name__, exc)

    def on_fraud_proof(self, proof: FraudProof) -> None:
        fraud = self.node.fraud
        if fraud is None:
            return  # only a validator re-executes proofs and proposes them; others just relay
        try:
            if fraud.offer(proof, self.node.chain.state):
                log.info(
                    "re-executing a fraud proof against receipt %s (segment %d)",
                    proof.receipt_id.hex()[:16],
                    proof.segment,
                )
        except PotError as exc:
            log.info("refused a fraud proof against receipt %s: %s", proof.receipt_id.hex()[:16], exc)

    # ------------------------------------------------------------------ gossip out

    def publish(self, record: Record) -> None:
        future = self.node.net.submit(lambda h: h.publish(record))
        future.add_done_callback(lambda f: f.exception() and log.info("publish failed: %s", f.exception()))

    # ------------------------------------------------------------------ fetching from peers

    def fetch_blob(self, digest: bytes, pending_wait_s: float | None = None) -> bytes:
        """The blob from any peer; one answering "pending" is asked again for up to `pending_wait_s` (default
        `limits.MAX_PENDING_WAIT_S`), then `BlobNotReady`."""
        return self.node.net.call(lambda h: h.fetch_blob(digest, max_pending_wait_s=pending_wait_s), timeout_s=120)

    def fetch_trace(self, receipt: WorkReceipt) -> TrainingTrace:
        """The receipt's trace from its publisher, else from a few other peers, each within a short deadline."""
        net = self.node.net
        origin = self.origins.get(receipt.receipt_id, (None, b"", 0))[0]
        peers = net.call(lambda h: sync._connected(h))
        others = [p for p in peers if p != origin]
        # a known publisher first, then a few others; with none known (a proposal's receipt, an audit of
        # an old one) every connected peer: those without the trace answer "not found" at once
        order = [origin, *others[:TRACE_FALLBACK_PEERS]] if origin else others
        root = receipt.commitments_root
        errors = []
        for peer in order:
            try:
                trace = net.call(
                    lambda h: request_trace(h, peer, root, publisher=peer == origin), timeout_s=TRACE_DEADLINE_S + 5
                )
                if trace.root == root:
                    return trace
                errors.append(f"{peer}: wrong trace")
            except Exception as exc:  # noqa: BLE001 - try the next peer
                errors.append(f"{peer}: {exc}")
        raise LookupError(f"no peer served the trace ({'; '.join(errors) or 'no peers'})")

    def dataset_manifest(self, root: bytes) -> DatasetManifest:
        """The shard list of dataset `root` (blocking: call off the event loop); see `find_manifest`."""
        return find_manifest(self.node.manifests, self.node.net, root)

    # ------------------------------------------------------------------ serving peers

    async def serve_trace(self, peer: str, req: TraceRequest) -> TraceResponse | ErrorResponse:
        trace = self.node.traces.get(req.commitments_root)
        if trace is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such trace")
        return TraceResponse(trace=trace)

    async def serve_manifest(self, peer: str, req: ManifestRequest) -> ManifestResponse | ErrorResponse:
        manifest = self.node.manifests.get(req.dataset_root)
        if manifest is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such data set")
        return ManifestResponse(manifest=manifest)

    async def serve_committee(self, peer: str, req: CommitteeRequest) -> CommitteeResponse | ErrorResponse:
        committee = self.node.committees.get(req.committee_hash)
        if committee is None:
            return ErrorResponse(code=ERR_NOT_FOUND, message="no such committee")
        return CommitteeResponse(committee=committee)

    def read_blob(self, digest: bytes, offset: int, length: int) -> tuple[int, bytes] | None:
        return read_or_recompute(self.node.blobs, self.node.recompute, digest, offset, length)

    # ------------------------------------------------------------------ deny list and peer table

    def apply_denied_peers(self) -> None:
        """Follow `<datadir>/denied_peers`: ban the peers listed (no connection, no gossip, no dial),
        lift the ban of those removed. Read again only when the file changes."""
        path = self.node.config.datadir / DENIED_PEERS_FILE
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
            self.node.net.submit(lambda h: _apply_denials(h, added, removed))

    def refresh_peers(self) -> None:
        """Ask the network thread for the peer table without waiting (a loaded host answers late)."""

        def done(future: Any) -> None:
            if future.exception() is None:
                self.peers = [
                    {
                        "peer_id": p.peer_id,
                        "score": round(p.score, 2),
                        "banned": p.banned,
                        "connected": p.connected,
                        "offences": p.offences,
                    }
                    for p in future.result()
                ]

        self.node.net.submit(lambda h: _peers(h)).add_done_callback(done)


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
