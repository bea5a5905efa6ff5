"""The shipped demo data and the devnet's default task."""

from __future__ import annotations

import pytest

from app.core.hashing import blob_hash
from app.core.types import TaskSpec
from app.miner import demo
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_split
from app.pot.hparams import InvalidTaskSpec
from app.pot.proof import segment_count


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


def test_default_task_validation_loss_falls_round_after_round(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The devnet's task, unchanged (H = 1200): two real rounds of one miner through the real loop."""
    import torch

    from app.core import crypto
    from app.miner.loop import RoundJob, RoundOutput, train_round
    from app.miner.resume import ResumeDir
    from app.pot.aggregate import aggregate_round
    from app.pot.datasets import load_dataset
    from app.pot.engine import evaluate
    from app.pot.tensors import decode_tensors

    spec = demo.default_task_spec()
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    val = load_split(store, [spec.validation_shard])
    key = crypto.SigningKey.from_seed(bytes([3]) * 32)
    checkpoint = spec.initial_checkpoint
    losses = [evaluate(spec, decode_tensors(store.get(checkpoint)), val, torch.device("cpu"))]
    for r in range(2):
        out = train_round(
            RoundJob("d", bytes(32), spec, r, bytes([1]) * 32, checkpoint),
            key,
            store,
            data,
            device=torch.device("cpu"),
            resume=ResumeDir(tmp_path / str(r)),
        )
        assert isinstance(out, RoundOutput)
        agg = aggregate_round(
            task_id=bytes(32),
            round_number=r,
            spec=spec,
            base_checkpoint=checkpoint,
            verified=[out.receipt],
            store=store,
            validation=val,
        )
        checkpoint = agg.checkpoint_hash
        losses.append(agg.validation_loss)
    assert losses[0] > 2.0 and losses[1] < 0.7 * losses[0] and losses[2] < 0.8 * losses[1], losses
