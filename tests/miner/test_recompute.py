"""A miner that keeps few checkpoints: disk bounded per round, the rest re-computed exactly when challenged."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.miner import demo, loop
from app.miner.loop import Paused, RoundOutput, keeps_every_checkpoint, train_round
from app.miner.recompute import RecomputeMismatch, recompute_checkpoints
from app.miner.resume import ResumeDir
from app.node.work import TrainingWork
from app.pot.blobs import MemoryBlobStore
from app.pot.verify import TaskView

from .conftest import ANCHOR, CHAIN, CPU, TASK_ID, make_job, verifier_for


def _sparse_round(spec, store, data, key, folder: Path) -> RoundOutput:  # type: ignore[no-untyped-def]
    out = train_round(make_job(spec), key, store, data, device=CPU, resume=ResumeDir(folder), keep_every=False)
    assert isinstance(out, RoundOutput)
    return out


def _kept(store: MemoryBlobStore, trace) -> list[int]:  # type: ignore[no-untyped-def]
    return [i for i, h in enumerate(trace.checkpoints) if store.has(h)]


def test_size_decides_keeping_every_checkpoint() -> None:
    assert keeps_every_checkpoint(1_000_000)  # a demo model's few hundred kB: all kept, served from disk
    assert not keeps_every_checkpoint(305_000_000)  # the 25.4M tiny-lm with AdamW: not 60 of them a round


def test_sparse_round_commits_the_same_trace_but_keeps_only_base_and_end(
    spec, store, data, keys, mine, tmp_path
) -> None:
    reference = mine(spec, keys[0])
    sparse_store = MemoryBlobStore()
    for digest in (spec.initial_checkpoint,):
        sparse_store.put(store.get(digest))
    out = _sparse_round(spec, sparse_store, data, keys[0], tmp_path / "sparse")
    assert out.receipt == reference.receipt  # same commitments: keeping is the miner's business only
    n = len(out.trace.checkpoints) - 1
    assert _kept(sparse_store, out.trace) == [0, n]
    assert sparse_store.has(out.update_hash)


def test_challenged_segment_not_on_disk_is_recomputed_to_the_committed_hash_and_verifies(
    spec, store, data, keys, tmp_path
) -> None:
    out = _sparse_round(spec, store, data, keys[0], tmp_path / "m")
    assert not store.has(out.trace.checkpoints[1]) and not store.has(out.trace.checkpoints[2])
    blobs = recompute_checkpoints(
        make_job(spec), keys[0].public_key, store, data, out.trace, [1, 2], CPU, out.receipt.device_class
    )  # replayed in the receipt's configuration
    assert sorted(blobs) == [1, 2]
    assert store.has(out.trace.checkpoints[1]) and store.has(out.trace.checkpoints[2])
    # A verifier that fetched just the draw's blobs (the served, re-computed ones) accepts segment 1.
    verifier_store = MemoryBlobStore()
    for digest in (
        spec.initial_checkpoint,
        out.trace.checkpoints[1],
        out.trace.checkpoints[2],
        out.trace.checkpoints[-1],
        out.update_hash,
    ):
        verifier_store.put(store.get(digest))
    verdict = verifier_for(spec, verifier_store, data).verify(out.receipt, out.trace, [1])
    assert verdict.accepted, verdict


def test_trace_openings_still_back_fraud_proofs_against_recomputed_blobs(spec, store, data, keys, tmp_path) -> None:
    out = _sparse_round(spec, store, data, keys[0], tmp_path / "f")
    n = len(out.trace.checkpoints) - 1
    blobs = recompute_checkpoints(make_job(spec), keys[0].public_key, store, data, out.trace, range(n + 1), CPU)
    for index in range(n + 1):
        opened = out.trace.opening(index).check(out.receipt.commitments_root, index, n + 1)
        assert opened == out.trace.checkpoints[index]
        assert store.get(opened) == blobs[index]


def test_recomputing_with_another_miners_order_is_refused_not_served(spec, store, data, keys, tmp_path) -> None:
    out = _sparse_round(spec, store, data, keys[0], tmp_path / "x")
    with pytest.raises(RecomputeMismatch):
        recompute_checkpoints(make_job(spec), keys[1].public_key, store, data, out.trace, [1], CPU)
    assert not store.has(out.trace.checkpoints[1])
    with pytest.raises(ValueError):
        recompute_checkpoints(
            make_job(spec), keys[0].public_key, store, data, out.trace, [len(out.trace.checkpoints)], CPU
        )


def test_sparse_pause_and_periodic_saves_keep_one_resume_point_and_resume_exactly(
    spec, store, data, keys, mine, tmp_path, monkeypatch
) -> None:
    reference = mine(spec, keys[0])
    monkeypatch.setattr(loop, "RESUME_SAVE_INTERVAL_S", 0.0)  # a resume record after every checkpoint
    sparse_store = MemoryBlobStore()
    sparse_store.put(store.get(spec.initial_checkpoint))
    resume = ResumeDir(tmp_path / "p")
    job = make_job(spec)
    first = train_round(job, keys[0], sparse_store, data, device=CPU, resume=resume, keep_every=False)
    assert isinstance(first, RoundOutput)
    assert first.receipt == reference.receipt
    assert _kept(sparse_store, first.trace) == [0, len(first.trace.checkpoints) - 1]
    # Paused on a checkpoint boundary (step 8 of 12, k=4): the record's checkpoint is on disk, the one
    # before it is not, and the continued round is the uninterrupted one.
    resume2 = ResumeDir(tmp_path / "q")
    other = MemoryBlobStore()
    other.put(store.get(spec.initial_checkpoint))
    asked = iter(range(10**6))
    paused = train_round(
        job, keys[0], other, data, device=CPU, resume=resume2, keep_every=False, should_pause=lambda: next(asked) >= 8
    )
    assert paused == Paused(8)
    assert _kept(other, first.trace) == [0, 2]
    done = train_round(job, keys[0], other, data, device=CPU, resume=resume2, keep_every=False)
    assert isinstance(done, RoundOutput) and done.receipt == reference.receipt
    assert _kept(other, first.trace) == [0, 3]


def test_verifier_on_the_receipts_configuration_checks_segment_ends_by_hash_without_fetching(
    spec, store, data, keys, tmp_path
) -> None:
    out = _sparse_round(spec, store, data, keys[0], tmp_path / "v")
    n = len(out.trace.checkpoints) - 1
    recompute_checkpoints(make_job(spec), keys[0].public_key, store, data, out.trace, range(n + 1), CPU)
    fetched: list[bytes] = []

    def fetch(digest: bytes) -> bytes:
        fetched.append(digest)
        return store.get(digest)

    mine_store = MemoryBlobStore()
    demo.seed_blobs(mine_store, spec)
    work = TrainingWork(CHAIN, mine_store, fetch, lambda r: out.trace, q=2, key=keys[3])  # type: ignore[arg-type]
    view = TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)
    assert out.receipt.task_id == TASK_ID
    checked = work.check(out.receipt, view)
    assert checked.verdict.accepted, checked.verdict
    ends = {out.trace.checkpoints[j + 1] for j in checked.segments} - {out.trace.checkpoints[n]}
    starts = {out.trace.checkpoints[j] for j in checked.segments}
    assert ends and not ends & set(fetched) - starts  # an exact replay's matching end is never fetched
