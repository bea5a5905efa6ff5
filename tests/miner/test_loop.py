"""The round loop: pausing and resuming loses nothing and changes nothing; progress is reported."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

from app.core.blobstore import BlobStore
from app.core.errors import InvalidSignature
from app.core.hashing import blob_hash
from app.core.merkle import merkle_root
from app.core.types import NO_SIGNATURE
from app.miner.loop import Paused, Progress, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot.datasets import round_seed
from app.pot.engine import Session, run_steps, update_tensors
from app.pot.tensors import decode_tensors, encode_tensors

from .conftest import ANCHOR, CPU, TASK_ID, make_job


def pause_after(steps: int):  # type: ignore[no-untyped-def]
    """A should_pause that lets `steps` steps run, then asks to pause."""
    asked = iter(range(10**6))
    return lambda: next(asked) >= steps


def test_receipt_commits_to_every_checkpoint_and_the_update(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    r = out.receipt
    r.verify_signature()
    assert r.steps == spec.local_steps and r.round == 0 and r.miner == keys[0].public_key
    assert len(out.trace.checkpoints) == spec.local_steps // spec.checkpoint_interval + 1
    assert out.trace.checkpoints[0] == spec.initial_checkpoint == r.base_checkpoint
    assert r.commitments_root == merkle_root(list(out.trace.checkpoints))
    assert all(store.has(h) for h in out.trace.checkpoints) and store.has(r.update_hash)
    final = decode_tensors(store.get(out.trace.checkpoints[-1]))
    assert any(k.startswith("opt.") for k in final)  # optimiser state travels with each checkpoint
    assert r.final_loss_micro > 0


def test_checkpoints_written_in_the_background_are_the_states_a_plain_replay_encodes(
    spec, store, data, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The writer copies the live state on its thread while the next step runs (the optimiser step waits
    for the copy): every checkpoint and the update must still be exactly a synchronous replay's, on the
    disk store (hashed once, stored with that hash) as on the memory store."""
    spec = spec.replace(local_steps=3 * spec.checkpoint_interval)
    disk = BlobStore(tmp_path / "blobs")
    disk.put(store.get(spec.initial_checkpoint))
    base = decode_tensors(store.get(spec.initial_checkpoint))
    session = Session(spec, CPU)
    session.load(base)
    seed = round_seed(ANCHOR, keys[0].public_key, TASK_ID, 0)
    expected = [spec.initial_checkpoint]
    for start in range(0, spec.local_steps, spec.checkpoint_interval):
        run_steps(session, data, seed, start, start + spec.checkpoint_interval, torch.zeros(()))
        expected.append(blob_hash(session.checkpoint_blob()))
    update = blob_hash(encode_tensors(update_tensors(session.export(), base)))
    for where, target in (("disk", disk), ("memory", store)):
        out = train_round(make_job(spec), keys[0], target, data, device=CPU, resume=ResumeDir(tmp_path / where))
        assert isinstance(out, RoundOutput)
        assert list(out.trace.checkpoints) == expected and out.update_hash == update
        assert all(blob_hash(target.get(h)) == h for h in expected)


def test_same_key_same_round_is_deterministic_and_another_key_trains_on_another_order(spec, keys, mine) -> None:
    a, b = mine(spec, keys[0]), mine(spec, keys[0])
    assert a.receipt.commitments_root == b.receipt.commitments_root
    assert mine(spec, keys[1]).receipt.commitments_root != a.receipt.commitments_root


def test_given_only_the_public_key_the_loop_yields_the_same_round_unsigned(
    spec, store, data, keys, mine, tmp_path: Path
) -> None:
    """The worker process trains under the public key alone; its parent, holding the key, signs once."""
    signed = mine(spec, keys[0])
    out = train_round(make_job(spec), keys[0].public_key, store, data, device=CPU, resume=ResumeDir(tmp_path / "u"))
    assert isinstance(out, RoundOutput)
    assert out.receipt.signature == NO_SIGNATURE and out.receipt.miner == keys[0].public_key
    with pytest.raises(InvalidSignature):
        out.receipt.verify_signature()
    assert out.receipt.signed_by(keys[0]) == signed.receipt and out.trace == signed.trace
    # a round recorded finished (unsigned) and asked again with the key comes back signed, not retrained
    again = train_round(make_job(spec), keys[0], store, data, device=CPU, resume=ResumeDir(tmp_path / "u"))
    assert isinstance(again, RoundOutput) and again.receipt == signed.receipt


def test_no_stand_in_key_object_is_left_in_the_worker() -> None:
    import app.miner.worker as worker

    assert not hasattr(worker, "_PublicKeyOnly")
    assert "NO_SIGNATURE" not in inspect.getsource(worker)  # the worker signs nothing, not even emptily


def test_pause_and_resume_gives_exactly_the_uninterrupted_result(spec, store, data, keys, mine, tmp_path: Path) -> None:
    reference = mine(spec, keys[0])
    resume = ResumeDir(tmp_path / "paused")
    job = make_job(spec)
    # Pause mid-segment (after 6 steps of a k=4 round), then on a checkpoint boundary (step 8).
    first = train_round(job, keys[0], store, data, device=CPU, resume=resume, should_pause=pause_after(6))
    assert first == Paused(6)
    second = train_round(job, keys[0], store, data, device=CPU, resume=resume, should_pause=pause_after(2))
    assert second == Paused(8)
    assert (resume.path / "round.cbor").exists()
    done = train_round(job, keys[0], store, data, device=CPU, resume=resume, should_pause=lambda: False)
    assert isinstance(done, RoundOutput)
    assert done.receipt == reference.receipt
    assert not (resume.path / "round.cbor").exists()


def test_state_of_another_round_is_discarded_not_continued(spec, store, data, keys, mine, tmp_path: Path) -> None:
    resume = ResumeDir(tmp_path / "r")
    paused = train_round(make_job(spec), keys[0], store, data, device=CPU, resume=resume, should_pause=pause_after(5))
    assert isinstance(paused, Paused) and paused.step == 5
    other = train_round(make_job(spec), keys[1], store, data, device=CPU, resume=resume)  # another key: another round
    assert isinstance(other, RoundOutput)
    assert other.receipt == mine(spec, keys[1]).receipt


def test_progress_reports_steps_loss_and_throughput(spec, store, data, keys, tmp_path: Path) -> None:
    seen: list[Progress] = []
    ticks: list[int] = []
    train_round(
        make_job(spec),
        keys[0],
        store,
        data,
        device=CPU,
        resume=ResumeDir(tmp_path),
        progress=seen.append,
        after_step=lambda: ticks.append(1),
        report_every=5,
    )
    assert [p.step for p in seen] == [5, 10, 12]
    assert all(p.total_steps == spec.local_steps and p.loss > 0 and p.samples_per_s > 0 for p in seen)
    assert len(ticks) == spec.local_steps


def test_diverging_training_raises_instead_of_signing_garbage(spec, store, data, keys, tmp_path: Path) -> None:
    import pytest

    from app.miner.loop import TrainingDiverged
    from app.pot.tensors import encode_tensors

    base = decode_tensors(store.get(spec.initial_checkpoint))
    exploding = store.put(encode_tensors({k: v * 1e30 for k, v in base.items()}))  # finite, but logits overflow
    job = make_job(spec, base=exploding)
    with pytest.raises(TrainingDiverged) as exc:
        train_round(job, keys[0], store, data, device=CPU, resume=ResumeDir(tmp_path))
    assert exc.value.step == spec.checkpoint_interval
    assert not (tmp_path / "round.cbor").exists()


def test_checkpoints_are_durable_before_a_resume_record_or_the_receipt_names_them(
    spec, data, keys, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Checkpoints are written deferred (no fsync each) and synced in one pass; no resume record is
    saved, and no receipt returned, while a blob it names is still unsynced."""
    from app.core.blobstore import BlobStore as DiskStore
    from app.miner import demo, loop

    disk = DiskStore(tmp_path / "blobs")
    demo.seed_blobs(disk, spec)
    saved: list[int] = []

    class CheckingResume(ResumeDir):
        def save(self, state, tensors):  # type: ignore[no-untyped-def]
            assert not set(state.checkpoints) & set(disk.unsynced()), "record saved before its blobs were synced"
            saved.append(state.step)
            super().save(state, tensors)

    monkeypatch.setattr(loop, "RESUME_SAVE_INTERVAL_S", 0.0)  # a periodic record after every checkpoint
    resume = CheckingResume(tmp_path / "resume")
    job = make_job(spec)
    assert train_round(job, keys[0], disk, data, device=CPU, resume=resume, should_pause=pause_after(6)) == Paused(6)
    assert disk.unsynced() == []
    done = train_round(job, keys[0], disk, data, device=CPU, resume=resume, should_pause=lambda: False)
    assert isinstance(done, RoundOutput)
    assert 6 in saved and 8 in saved  # the pause and a periodic record were both checked
    assert disk.unsynced() == []  # the receipt's checkpoints and update are all durable
    for h in (*done.trace.checkpoints, done.update_hash):
        disk.verify(h)
