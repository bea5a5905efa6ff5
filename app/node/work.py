"""Heavy training work a node does off its event loop: fetching blobs, verifying receipts, aggregating.

Everything here is blocking and runs on one of the node's threads, never its loop. Blobs named by a
receipt are fetched from peers into the local blob store first (hash-checked by the fetcher and again
by the store), so `app.pot.verify` and `app.pot.aggregate` work on local data only; a miner's round
data is fetched the same way before its training worker process is given the round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch

from app.core.blobstore import BlobStore
from app.core.crypto import SigningKey
from app.core.types import FraudProof, TaskSpec, WorkReceipt
from app.miner.demo import manifest_for_root
from app.net.errors import BlobNotReady
from app.node.pacing import CHALLENGE_WAIT_S
from app.pot import config
from app.pot.aggregate import Aggregate, aggregate_round
from app.pot.challenge import draw_segments
from app.pot.datasets import DatasetManifest, Split, load_dataset, load_split
from app.pot.fraud import check_fraud_proof
from app.pot.proof import TrainingTrace, segment_count
from app.pot.verify import DEFAULT_Q, DecodedCache, TaskView, Verdict, Verifier

UNAVAILABLE = "unavailable"  # a challenged trace or blob not served in time: a rejection, never a re-draw

log = logging.getLogger(__name__)

FetchBlob = Callable[[bytes], bytes]  # blob hash -> bytes from any peer (raises if unavailable)
# the same, asking a peer that answers "pending" again for up to the given seconds (then `BlobNotReady`)
FetchWaiting = Callable[[bytes, float], bytes]
FetchTrace = Callable[[WorkReceipt], TrainingTrace]
FindManifest = Callable[[bytes], DatasetManifest]  # dataset root -> its shard list (shipped, or from peers)


@dataclass(frozen=True)
class Checked:
    """A verdict on a receipt with the segments this verifier challenged (fixed per key and receipt)."""

    verdict: Verdict
    segments: tuple[int, ...]


@dataclass(frozen=True)
class Deferred:
    """A challenged blob is still being prepared by the miner (re-computed: it did not keep it): gather
    again after `retry_after_s`, within the verifier's deadline (`app.node.pacing.pending_deadline_s`)."""

    segments: tuple[int, ...]
    retry_after_s: float
    detail: str


@dataclass(frozen=True)
class Gathered:
    """Everything a receipt's verification needs is local: its trace, and the blobs of the draw."""

    trace: TrainingTrace
    segments: tuple[int, ...]


class TrainingWork:
    """Verification and aggregation against one node's blob store.

    `key` is the verifier's signing key: its challenge for a receipt is `draw_segments(key, ...)`, the
    same every time it is asked, so a miner that withholds a challenged blob cannot wait for a luckier
    draw (a fresh key per instance when none is given, e.g. a node that only re-executes fraud proofs).
    """

    def __init__(
        self,
        chain_id: str,
        blobs: BlobStore,
        fetch_blob: FetchBlob,
        fetch_trace: FetchTrace,
        q: int = DEFAULT_Q,
        device: torch.device | None = None,
        key: SigningKey | None = None,
        manifest: FindManifest = manifest_for_root,
        fetch_challenged: FetchWaiting | None = None,
        challenge_wait_s: float = CHALLENGE_WAIT_S,
    ) -> None:
        self.chain_id = chain_id
        self.key = key or SigningKey.generate()
        self.blobs = blobs
        self._fetch_blob = fetch_blob
        # a draw's blobs: fetched with a short wait for those a miner answers "pending" (re-computing them),
        # so `gather` can be tried again later instead of holding a thread (None: `fetch_blob`'s own wait)
        self._fetch_challenged = fetch_challenged
        self.challenge_wait_s = challenge_wait_s
        self._fetch_trace = fetch_trace
        self._manifest = manifest
        self.q = q
        self.device = device or torch.device("cpu")
        self.training_data = lru_cache(maxsize=4)(self._training_data)
        self.validation_data = lru_cache(maxsize=4)(self._validation_data)
        self.decoded = DecodedCache()  # the rounds' base checkpoints, decoded once for all their receipts

    def ensure(self, digest: bytes, fetch: FetchBlob | None = None) -> None:
        """Make blob `digest` local, fetching it from peers if needed (with `fetch`, default the node's)."""
        if not self.blobs.has(digest):
            data = (fetch or self._fetch_blob)(digest)
            self.blobs.put(data)

    def ensure_dataset(self, spec: TaskSpec) -> DatasetManifest:
        """Make the task's shards local; their list, for a process that loads them itself (the worker)."""
        manifest = self._manifest(spec.dataset_root)
        for shard in manifest.shards:
            self.ensure(shard)
        return manifest

    def _training_data(self, spec: TaskSpec) -> Split:
        return load_dataset(self.blobs, self.ensure_dataset(spec), spec.dataset_root)

    def _validation_data(self, spec: TaskSpec) -> Split:
        self.ensure(spec.validation_shard)
        return load_split(self.blobs, [spec.validation_shard])

    def draw(self, receipt: WorkReceipt, n_segments: int) -> tuple[int, ...]:
        """This verifier's challenge for `receipt`: a pure function of its key and the receipt id."""
        return tuple(draw_segments(self.key, self.chain_id, receipt.receipt_id, n_segments, self.q))

    def verify(self, receipt: WorkReceipt, view: TaskView) -> Verdict:
        return self.check(receipt, view).verdict

    def check(self, receipt: WorkReceipt, view: TaskView) -> Checked:
        """`gather` then `replay`, in one call (tests, and callers with no separate fetch thread, which
        do not wait for a blob still being prepared: `unavailable`)."""
        gathered = self.gather(receipt, view)
        if isinstance(gathered, Deferred):
            return Checked(Verdict(False, UNAVAILABLE, gathered.detail), gathered.segments)
        return gathered if isinstance(gathered, Checked) else self.replay(receipt, view, gathered)

    def gather(self, receipt: WorkReceipt, view: TaskView) -> "Gathered | Checked | Deferred":
        """Fetch the trace and just the blobs this verifier's fixed draw needs (network only, no torch).

        Anything not served (trace, challenged checkpoint, update) is the verdict `unavailable`; a blob
        the miner is still preparing is `Deferred` (the caller gathers again later, up to its deadline).
        """
        n = segment_count(view.spec)
        segments = self.draw(receipt, n)
        try:
            trace = self._fetch_trace(receipt)
            if trace.root != receipt.commitments_root:
                return Checked(
                    Verdict(False, "bad-trace", "the trace served does not match the receipt's root"), segments
                )
            if len(trace.checkpoints) != n + 1:
                return Checked(
                    Verdict(False, "bad-trace", f"{len(trace.checkpoints)} checkpoints, expected {n + 1}"), segments
                )
            # On the receipt's own configuration replay is exact: a segment's end is checked against its
            # committed hash, and fetched (in `replay`) only when it differs, to say by how much.
            ends = () if self._replays_exactly(receipt) else (j + 1 for j in segments)
            needed = [trace.checkpoints[i] for i in sorted({0, n, *segments, *ends})]
            self._ensure_draw([*needed, receipt.update_hash])
        except BlobNotReady as exc:  # the miner is re-computing it: not a verdict yet
            return Deferred(segments, exc.retry_after_s, str(exc))
        except Exception as exc:  # noqa: BLE001 - unavailable data is a verdict, not a crash
            return Checked(Verdict(False, UNAVAILABLE, str(exc)), segments)
        self.training_data(view.spec)  # the task's own data (shipped with every node, or fetched once)
        return Gathered(trace, segments)

    def _ensure_draw(self, digests: list[bytes]) -> None:
        """Make a draw's blobs local. Each is asked for once before any is waited for, so a miner that
        re-computes several hears the whole draw at once and answers it with one replay; those still
        "pending" are then waited for `challenge_wait_s` each (`BlobNotReady` if still not ready)."""
        fetch = self._fetch_challenged
        if fetch is None:
            for digest in digests:
                self.ensure(digest)
            return
        preparing = []
        for digest in digests:
            try:
                self.ensure(digest, lambda d: fetch(d, 0.0))
            except BlobNotReady:
                preparing.append(digest)
        for digest in preparing:
            self.ensure(digest, lambda d: fetch(d, self.challenge_wait_s))

    def replay(self, receipt: WorkReceipt, view: TaskView, gathered: "Gathered") -> Checked:
        """Re-execute the challenged segments from local blobs (the costly part)."""
        verifier = Verifier(
            self.chain_id,
            {receipt.task_id: view},
            _Fetching(self),
            self.training_data,
            self.device,
            self.q,
            cache=self.decoded,
        )
        return Checked(verifier.verify(receipt, gathered.trace, list(gathered.segments)), gathered.segments)

    def _replays_exactly(self, receipt: WorkReceipt) -> bool:
        """Whether this node reproduces the receipt's device configuration (the Verifier's exact rule)."""
        try:
            declared = config.parse(receipt.device_class)
        except config.BadDeviceConfig:
            return False
        return config.reproducible(config.current(self.device), declared)

    def audit(self, receipt: WorkReceipt, view: TaskView, segment: int) -> tuple[Verdict, TrainingTrace | None]:
        """Re-execute segment `segment` of an included receipt (`view`: the task as of its round), with
        the trace it was checked against (None if the trace could not be had)."""
        try:
            trace = self._fetch_trace(receipt)
            if trace.root != receipt.commitments_root:
                return Verdict(False, UNAVAILABLE, "no peer served the receipt's trace"), None
            if not 0 <= segment < len(trace.checkpoints) - 1:
                return Verdict(False, "bad-segment", f"segment {segment} of {len(trace.checkpoints) - 1}"), trace
            self.ensure(trace.checkpoints[segment])
            self.ensure(trace.checkpoints[segment + 1])
        except Exception as exc:  # noqa: BLE001 - unavailable data is a finding, not a crash
            return Verdict(False, UNAVAILABLE, str(exc)), None
        self.training_data(view.spec)
        verifier = Verifier(
            self.chain_id,
            {receipt.task_id: view},
            self.blobs,
            self.training_data,
            self.device,
            self.q,
            cache=self.decoded,
        )
        return verifier.verify_segment(receipt, trace, segment), trace

    def check_fraud(self, proof: FraudProof, view: TaskView) -> Verdict:
        """Re-execute the segment `proof` challenges (`view`: the task as of the receipt's round)."""
        try:
            self.ensure(proof.start_checkpoint)
            self.ensure(proof.end_checkpoint)
            self.training_data(view.spec)
        except Exception as exc:  # noqa: BLE001 - unavailable data proves nothing either way
            return Verdict(False, "unavailable", str(exc))
        verifier = Verifier(
            self.chain_id, {proof.receipt.task_id: view}, self.blobs, self.training_data, self.device, self.q
        )
        return check_fraud_proof(proof, verifier)

    def aggregate(
        self, task_id: bytes, round_number: int, spec: TaskSpec, base: bytes, receipts: list[WorkReceipt]
    ) -> Aggregate:
        """The round's robust aggregate over `receipts` (already verified), stored as a blob."""
        self.ensure(base)
        for r in receipts:
            self.ensure(r.update_hash)
        return aggregate_round(
            task_id=task_id,
            round_number=round_number,
            spec=spec,
            base_checkpoint=base,
            verified=receipts,
            store=self.blobs,
            validation=self.validation_data(spec),
            device=self.device,
        )


class _Fetching:
    """The node's blob store, fetching a missing blob from peers on `get` (a segment end that an exact
    replay did not match: rare, only a cheating or misconfigured miner's)."""

    def __init__(self, work: TrainingWork) -> None:
        self.work = work
        self.verifies_reads = bool(getattr(work.blobs, "verifies_reads", False))  # `get` is the store's

    def has(self, digest: bytes) -> bool:
        return self.work.blobs.has(digest)

    def put(self, data: bytes) -> bytes:
        return self.work.blobs.put(data)

    def get(self, digest: bytes) -> bytes:
        try:
            self.work.ensure(digest)
        except Exception as exc:  # noqa: BLE001 - not served: `fetch_verified` makes it "unavailable"
            raise KeyError(f"blob {digest.hex()[:16]} not served: {exc}") from None
        return self.work.blobs.get(digest)
