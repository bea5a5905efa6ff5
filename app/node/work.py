"""Heavy training work a node does off its event loop: fetching blobs, verifying receipts, aggregating.

Everything here is blocking and runs on the node's worker thread. Blobs named by a receipt are
fetched from peers into the local blob store first (hash-checked by the fetcher and again by the
store), so `app.miner.verify` and `app.miner.aggregate` work on local data only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import torch

from app.core.blobstore import BlobStore
from app.core.types import FraudProof, TaskSpec, WorkReceipt
from app.miner.aggregate import Aggregate, aggregate_round
from app.miner.datasets import Split, load_dataset, load_split
from app.miner.demo import manifest_for_root
from app.miner.fraud import check_fraud_proof
from app.miner.proof import TrainingTrace, segment_count
from app.miner.verify import DEFAULT_Q, TaskView, Verdict, Verifier, choose_segments

log = logging.getLogger(__name__)

FetchBlob = Callable[[bytes], bytes]  # blob hash -> bytes from any peer (raises if unavailable)
FetchTrace = Callable[[WorkReceipt], TrainingTrace]


class TrainingWork:
    """Verification and aggregation against one node's blob store."""

    def __init__(self, chain_id: str, blobs: BlobStore, fetch_blob: FetchBlob, fetch_trace: FetchTrace,
                 q: int = DEFAULT_Q, device: torch.device | None = None) -> None:
        self.chain_id = chain_id
        self.blobs = blobs
        self._fetch_blob = fetch_blob
        self._fetch_trace = fetch_trace
        self.q = q
        self.device = device or torch.device("cpu")
        self.training_data = lru_cache(maxsize=4)(self._training_data)
        self.validation_data = lru_cache(maxsize=4)(self._validation_data)

    def ensure(self, digest: bytes) -> None:
        """Make blob `digest` local, fetching it from peers if needed."""
        if not self.blobs.has(digest):
            data = self._fetch_blob(digest)
            self.blobs.put(data)

    def _training_data(self, spec: TaskSpec) -> Split:
        manifest = manifest_for_root(spec.dataset_root)
        for shard in manifest.shards:
            self.ensure(shard)
        return load_dataset(self.blobs, manifest, spec.dataset_root)

    def _validation_data(self, spec: TaskSpec) -> Split:
        self.ensure(spec.validation_shard)
        return load_split(self.blobs, [spec.validation_shard])

    def verify(self, receipt: WorkReceipt, view: TaskView) -> Verdict:
        """Draw `q` segments with local randomness, fetch just what they need, and re-execute them."""
        try:
            trace = self._fetch_trace(receipt)
            if trace.root != receipt.commitments_root:
                return Verdict(False, "bad-trace", "the trace served does not match the receipt's root")
            n = segment_count(view.spec)
            if len(trace.checkpoints) != n + 1:
                return Verdict(False, "bad-trace", f"{len(trace.checkpoints)} checkpoints, expected {n + 1}")
            segments = choose_segments(n, self.q)
            needed = {0, n, *segments, *(j + 1 for j in segments)}
            for index in sorted(needed):
                self.ensure(trace.checkpoints[index])
            self.ensure(receipt.update_hash)
        except Exception as exc:  # noqa: BLE001 - unavailable data is a verdict, not a crash
            return Verdict(False, "unavailable", str(exc))
        verifier = Verifier(self.chain_id, {receipt.task_id: view}, self.blobs, self.training_data, self.device, self.q)
        return verifier.verify(receipt, trace, segments)

    def check_fraud(self, proof: FraudProof, view: TaskView) -> Verdict:
        """Re-execute the segment `proof` challenges (`view`: the task as of the receipt's round)."""
        try:
            self.ensure(proof.start_checkpoint)
            self.ensure(proof.end_checkpoint)
            self.training_data(view.spec)
        except Exception as exc:  # noqa: BLE001 - unavailable data proves nothing either way
            return Verdict(False, "unavailable", str(exc))
        verifier = Verifier(self.chain_id, {proof.receipt.task_id: view}, self.blobs, self.training_data, self.device,
                            self.q)
        return check_fraud_proof(proof, verifier)

    def aggregate(self, task_id: bytes, round_number: int, spec: TaskSpec, base: bytes,
                  receipts: list[WorkReceipt]) -> Aggregate:
        """The round's robust aggregate over `receipts` (already verified), stored as a blob."""
        self.ensure(base)
        for r in receipts:
            self.ensure(r.update_hash)
        return aggregate_round(task_id=task_id, round_number=round_number, spec=spec, base_checkpoint=base,
                               verified=receipts, store=self.blobs, validation=self.validation_data(spec),
                               device=self.device)
