"""What both of the daemon's node ports do alike: peers, files served, data by hash, round checks.

A full `Node` and a `LightNode` hold the same parts under the same names (`net`, `blobs`, `traces`,
`manifests`, `work`, `config.bootstrap`, `dataset_manifest`), so `NodePort` and `LightPort` share these
methods here and differ only in where the chain's state and history come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.blobstore import BlobStore
from app.core.tasks import TASK_OPEN
from app.core.types import TaskSpec
from app.miner.loop import RoundJob
from app.node.light_state import StateView
from app.node.manifests import ManifestBook
from app.pot.datasets import DatasetManifest

if TYPE_CHECKING:
    from app.miner.packing import PackedDataset


class PortCommon:
    """Methods over `self._node`'s shared parts; subclasses set `_node` and `state`."""

    _node: Any

    @property
    def state(self) -> StateView:
        raise NotImplementedError

    def peers(self) -> list[dict[str, Any]]:
        peers = self._node.net.call(lambda h: _peers(h), timeout_s=5)
        return [
            {"peer_id": p.peer_id, "score": round(p.score, 2), "connected": p.connected, "banned": p.banned}
            for p in peers
        ]

    def listen_addrs(self) -> list[str]:
        return [str(a) for a in self._node.net.listen_addrs]

    @property
    def blob_dir(self) -> Path:
        return self._node.blobs.root

    @property
    def blob_store(self) -> BlobStore:
        """The node's content-addressed store (files; safe from any thread): the disk pruner works on it."""
        return self._node.blobs

    def serve_dropped_checkpoints(self, resume_dir: Path) -> None:
        """Answer verifiers' requests for checkpoints the miner (resume folder `resume_dir`) committed to but
        did not keep, by re-computing them (`app.miner.recompute.CheckpointRecomputer`)."""
        from app.miner.recompute import CheckpointRecomputer
        from app.miner.sparse_record import sparse_dir

        node = self._node
        node.recompute = CheckpointRecomputer(sparse_dir(resume_dir), node.blobs, node.work.training_data)

    @property
    def trace_dir(self) -> Path | None:
        """Where the node keeps the traces of its receipts (None: in memory only)."""
        return self._node.traces.directory

    @property
    def bootstrap_count(self) -> int:
        """How many bootstrap peers the node dials (none: a network of its own)."""
        return len(self._node.config.bootstrap)

    def dataset_shards(self, root: bytes) -> tuple[bytes, ...]:
        """The shard hashes of the dataset with manifest root `root`, from the node's manifest book."""
        return self._node.manifests.shards(root)

    def dataset_manifest(self, root: bytes) -> DatasetManifest:
        """The manifest of dataset `root`: a shipped one, a kept one, or fetched from peers (blocking)."""
        return self._node.dataset_manifest(root)

    def blob(self, digest: bytes) -> bytes:
        """The blob `digest` (a checkpoint, a shard), fetched from peers first if it is not here (blocking)."""
        self._node.work.ensure(digest)
        return self._node.blobs.get(digest)

    def seed_task_blobs(self, spec: TaskSpec, packed: PackedDataset | None = None) -> None:
        """Store what a requester serves for its task `spec` (see `seed_blobs`)."""
        seed_blobs(self._node.blobs, self._node.manifests, spec, packed)

    def is_open(self, job: RoundJob) -> bool:
        """Whether the chain still wants round `job` (same round, same base checkpoint, task open)."""
        return round_is_open(self.state, job)


def seed_blobs(blobs: BlobStore, manifests: ManifestBook, spec: TaskSpec, packed: PackedDataset | None) -> None:
    """Store what a requester serves for its task `spec`: the shards and the initial checkpoint, and for
    the requester's own files (`packed`) the manifest peers will ask for. Without `packed` the task must
    be over a shipped demo dataset."""
    from app.miner import demo

    if packed is None:
        demo.seed_blobs(blobs, spec)
        return
    for data in packed.blobs.values():
        blobs.put(data)
    blobs.put(demo.initial_checkpoint(spec.model, spec.model_version, spec.hyperparams))
    manifests.add(packed.manifest)


def round_is_open(state: StateView, job: RoundJob) -> bool:
    """Whether `state` still wants round `job` (same round, same base checkpoint, task open)."""
    task = state.task(job.task_id)
    return (
        task is not None
        and task.status == TASK_OPEN
        and task.round == job.round
        and task.checkpoint == job.base_checkpoint
    )


async def _peers(host):  # type: ignore[no-untyped-def]
    return host.peers()
