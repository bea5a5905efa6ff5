"""The shipped demo data and the devnet's default task."""

from __future__ import annotations

import pytest

from app.core.hashing import blob_hash
from app.core.types import TaskSpec
from app.miner import demo
from app.miner.blobs import MemoryBlobStore
from app.miner.datasets import load_split
from app.miner.hparams import InvalidTaskSpec
from app.miner.proof import segment_count


def test_default_task_is_a_valid_canonical_spec_over_shipped_data() -> None:
    spec = demo.default_task_spec()
    assert TaskSpec.decode(spec.encode()) == spec
    assert spec.model == "mlp" and segment_count(spec) == spec.local_steps // spec.checkpoint_interval
    assert demo.manifest_for_root(spec.dataset_root) == demo.demo_datasets()["digits"].manifest


def test_seed_blobs_provides_every_shard_and_the_initial_checkpoint() -> None:
    spec = demo.default_task_spec()
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    d = demo.demo_datasets()["digits"]
    assert all(store.has(h) for h in d.manifest.shards) and store.has(spec.validation_shard)
    assert store.has(spec.initial_checkpoint)
    assert len(load_split(store, d.manifest.shards)) == 1500
    assert len(load_split(store, [spec.validation_shard])) == 297


def test_shipped_files_match_their_registered_hashes() -> None:
    for d in demo.demo_datasets().values():
        for digest, path in d.files.items():
            assert blob_hash(path.read_bytes()) == digest, path


def test_unknown_dataset_root_is_refused() -> None:
    with pytest.raises(InvalidTaskSpec):
        demo.manifest_for_root(bytes(32))
    with pytest.raises(InvalidTaskSpec):
        demo.seed_blobs(MemoryBlobStore(), demo.default_task_spec().replace(dataset_root=bytes(32)))
