"""The practice network's task (issue 14): real data that keeps teaching, and a loss that never worsens."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from app.core import crypto
from app.core.patience import check_patience
from app.miner import demo
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot.aggregate import aggregate_round
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import load_dataset, load_split
from app.pot.tensors import decode_tensors
from app.pot.usefulness import paired_score, sample_losses


def test_digits_plus_holds_distinct_augmented_images_and_digits_validation_split() -> None:
    plus, digits = demo.demo_datasets()["digits-plus"], demo.demo_datasets()["digits"]
    store = MemoryBlobStore()
    for path in list(plus.files.values()) + list(digits.files.values()):
        store.put(path.read_bytes())
    train = load_split(store, plus.manifest.shards)
    base = load_split(store, digits.manifest.shards)
    assert len(train) == 30_000 and plus.validation == digits.validation  # the same held-out images
    distinct = {bytes(x.flatten().tolist()) for x in train.inputs}
    assert len(distinct) > 25_000  # not the 1,500 images again
    assert int(train.inputs.max()) <= 16 and set(train.targets.tolist()) == set(range(10))
    overlap = distinct & {bytes(x.flatten().tolist()) for x in base.inputs}
    assert len(overlap) < 1_500  # most are moved, not copied


def test_the_practice_task_improves_every_round_within_noise(tmp_path: Path) -> None:
    """Three real rounds of the devnet's schedule (H = 64 to stay short), two miners, the committee's
    aggregate: every new global checkpoint passes the usefulness test against the previous one and
    the loss falls overall; the task states an admissible patience rule."""
    spec = demo.practice_task_spec(local_steps=64, checkpoint_interval=16, batch_size=32, rounds=50)
    check_patience(spec)
    assert spec.patience_rounds > 0 and demo.manifest_for_root(spec.dataset_root).name == "digits-plus"
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    val = load_split(store, [spec.validation_shard])
    keys = [crypto.SigningKey.from_seed(bytes([i + 5]) * 32) for i in range(2)]
    checkpoint = spec.initial_checkpoint
    base = sample_losses(spec, decode_tensors(store.get(checkpoint)), val)
    first = float(base.mean())
    for r in range(3):
        anchor = hashlib.sha256(b"anchor%d" % r).digest()
        outs = []
        for i, key in enumerate(keys):
            job = RoundJob("p", bytes(32), spec, r, anchor, checkpoint)
            out = train_round(
                job, key, store, data, device=torch.device("cpu"), resume=ResumeDir(tmp_path / f"{r}-{i}")
            )
            assert isinstance(out, RoundOutput)
            outs.append(out)
        agg = aggregate_round(
            task_id=bytes(32),
            round_number=r,
            spec=spec,
            base_checkpoint=checkpoint,
            verified=[o.receipt for o in outs],
            store=store,
            validation=val,
        )
        new = sample_losses(spec, decode_tensors(agg.checkpoint), val)
        score = paired_score(base, new)
        assert score.useful, f"round {r}: the held-out loss rose by {score.delta:.4f} (allowance {score.allowance:.4f})"
        checkpoint, base = agg.checkpoint_hash, new
    assert float(base.mean()) < first - 0.5, (first, float(base.mean()))
