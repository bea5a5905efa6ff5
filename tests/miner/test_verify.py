"""The verifier accepts honest work and rejects each kind of cheating with its own reason."""

from __future__ import annotations

import threading

import torch

from app.core.merkle import merkle_root
from app.core.types import NO_SIGNATURE
from app.miner.loop import RoundOutput
from app.pot import optim
from app.pot.blobs import MemoryBlobStore
from app.pot.challenge import draw_segments
from app.pot.datasets import Split
from app.pot.engine import update_tensors
from app.pot.proof import TrainingTrace, make_receipt
from app.pot.tensors import decode_tensors, encode_tensors
from app.pot.verify import UNAVAILABLE, DecodedCache, TaskView, Verifier

from .conftest import ANCHOR, CHAIN, CPU, TASK_ID, verifier_for

ALL = [0, 1, 2]


def resign(
    out: RoundOutput, key, store: MemoryBlobStore, checkpoints: list[bytes], steps: int | None = None
) -> RoundOutput:  # type: ignore[no-untyped-def]
    """A receipt over a (possibly doctored) trace, consistently committed and signed by `key`."""
    final = decode_tensors(store.get(checkpoints[-1]))
    base = decode_tensors(store.get(checkpoints[0]))
    update_hash = store.put(encode_tensors(update_tensors(final, base)))
    receipt = make_receipt(
        key=key,
        chain_id=CHAIN,
        task_id=TASK_ID,
        round_number=out.receipt.round,
        checkpoints=checkpoints,
        update_hash=update_hash,
        steps=steps or out.receipt.steps,
        final_loss=out.receipt.final_loss_micro / 1e6,
        device_class=out.receipt.device_class,
    )
    return RoundOutput(receipt, TrainingTrace(checkpoints=tuple(checkpoints), samples=out.trace.samples), update_hash)


def test_honest_receipt_verifies_on_every_segment_and_on_a_random_draw(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data)
    assert v.verify(out.receipt, out.trace, segments=ALL).accepted
    verdict = v.verify(out.receipt, out.trace)
    assert verdict.accepted, verdict


def test_forged_checkpoint_is_caught_by_the_segments_around_it(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    ckpt = decode_tensors(store.get(out.trace.checkpoints[2]))
    forged = {k: v + 0.05 * torch.randn_like(v) if k.startswith(optim.PARAM) else v for k, v in ckpt.items()}
    checkpoints = list(out.trace.checkpoints)
    checkpoints[2] = store.put(encode_tensors(forged))
    bad = resign(out, keys[0], store, checkpoints)
    v = verifier_for(spec, store, data)
    for segment in (1, 2):  # the segment that should end at it, and the one that starts from it
        verdict = v.verify(bad.receipt, bad.trace, segments=[segment])
        assert (verdict.accepted, verdict.reason) == (False, "segment-mismatch"), verdict


def test_skipped_steps_are_caught(spec, store, data, keys, mine) -> None:
    lazy_spec = spec.replace(local_steps=spec.local_steps // 2, checkpoint_interval=spec.checkpoint_interval // 2)
    lazy = mine(lazy_spec, keys[0])  # half the work, same number of checkpoints
    bad = resign(lazy, keys[0], store, list(lazy.trace.checkpoints), steps=spec.local_steps)
    verdict = verifier_for(spec, store, data).verify(bad.receipt, bad.trace)
    assert (verdict.accepted, verdict.reason) == (False, "segment-mismatch")


def test_receipt_copied_and_resigned_by_another_key_is_rejected(spec, store, data, keys, mine) -> None:
    honest = mine(spec, keys[0])
    thief = keys[1]
    stolen = honest.receipt.replace(miner=thief.public_key, signature=NO_SIGNATURE).signed_by(thief)
    stolen.verify_signature()  # a perfectly valid signature: only re-execution exposes the theft
    verdict = verifier_for(spec, store, data).verify(stolen, honest.trace)
    assert (verdict.accepted, verdict.reason) == (False, "segment-mismatch")


def test_update_trained_on_poisoned_labels_is_rejected(spec, store, data, keys, mine) -> None:
    poisoned = Split(data.inputs, (data.targets + 1) % 10)
    out = mine(spec, keys[0], on=poisoned)
    verdict = verifier_for(spec, store, data).verify(out.receipt, out.trace)
    assert (verdict.accepted, verdict.reason) == (False, "segment-mismatch")


def test_replayed_receipt_from_an_earlier_round_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data, current_round=1)
    assert v.verify(out.receipt, out.trace).reason == "wrong-round"


def test_receipt_on_a_stale_base_checkpoint_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data, current_checkpoint=bytes(32))
    assert v.verify(out.receipt, out.trace).reason == "wrong-base"


def test_receipt_for_finished_or_unknown_task_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    assert verifier_for(spec, store, data, finished=True).verify(out.receipt, out.trace).reason == "task-finished"
    other_task = out.receipt.replace(task_id=bytes(32), signature=NO_SIGNATURE).signed_by(keys[0])
    assert verifier_for(spec, store, data).verify(other_task, out.trace).reason == "unknown-task"


def test_model_not_in_registry_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec.replace(model="resnet-9000"), store, data)
    verdict = v.verify(out.receipt, out.trace)
    assert (verdict.accepted, verdict.reason) == (False, "unknown-model")


def test_update_blob_whose_hash_does_not_match_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    blob = bytearray(store.get(out.update_hash))
    blob[-1] ^= 1  # a peer serves other bytes under the update's address
    store.corrupt(out.update_hash, bytes(blob))
    assert verifier_for(spec, store, data).verify(out.receipt, out.trace).reason == "blob-hash-mismatch"


def test_missing_checkpoint_blob_is_unavailable_and_the_draw_stays_the_same(spec, data, keys, mine, store) -> None:
    out = mine(spec, keys[0])
    partial = MemoryBlobStore()
    for h in (spec.initial_checkpoint, out.update_hash, out.trace.checkpoints[-1]):
        partial.put(store.get(h))
    v = verifier_for(spec, partial, data)
    assert v.verify(out.receipt, out.trace, segments=[1]).reason == UNAVAILABLE
    drawn = v.draw(out.receipt, 3)
    assert all(v.draw(out.receipt, 3) == drawn for _ in range(3))  # asking again challenges the same segments
    verdicts = {v.verify(out.receipt, out.trace) for _ in range(3)}
    assert len(verdicts) == 1 and next(iter(verdicts)).reason == UNAVAILABLE


def test_tampered_safetensors_update_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    blob = store.get(out.update_hash)
    header_len = int.from_bytes(blob[:8], "little")
    tampered = blob[:8] + blob[8 : 8 + header_len].replace(b'"F32"', b'"F16"', 1) + blob[8 + header_len :]
    receipt = out.receipt.replace(update_hash=store.put(tampered), signature=NO_SIGNATURE).signed_by(keys[0])
    verdict = verifier_for(spec, store, data).verify(receipt, out.trace)
    assert (verdict.accepted, verdict.reason) == (False, "malformed-blob")


def test_update_that_is_not_final_minus_base_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    update = decode_tensors(store.get(out.update_hash))
    boosted = {k: v * 3 for k, v in update.items()}  # claims a bigger step than the trace shows
    receipt = out.receipt.replace(update_hash=store.put(encode_tensors(boosted)), signature=NO_SIGNATURE).signed_by(
        keys[0]
    )
    assert verifier_for(spec, store, data).verify(receipt, out.trace).reason == "update-mismatch"


def test_bad_signature_and_wrong_chain_are_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data)
    assert v.verify(out.receipt.replace(final_loss_micro=1), out.trace).reason == "bad-signature"
    assert v.verify(out.receipt.replace(chain_id="other"), out.trace).reason == "wrong-chain"


def test_wrong_step_count_and_false_final_loss_are_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    v = verifier_for(spec, store, data)
    more = out.receipt.replace(steps=spec.local_steps * 2, signature=NO_SIGNATURE).signed_by(keys[0])
    assert v.verify(more, out.trace).reason == "wrong-steps"
    lower = out.receipt.replace(final_loss_micro=out.receipt.final_loss_micro // 2, signature=NO_SIGNATURE).signed_by(
        keys[0]
    )
    assert v.verify(lower, out.trace, segments=[2]).reason == "loss-mismatch"


def test_opening_that_does_not_prove_against_the_root_is_rejected(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    other = list(out.trace.checkpoints)
    other[1] = bytes(32)
    liar = TrainingTrace(checkpoints=tuple(other), samples=out.trace.samples)
    assert merkle_root(other) != out.receipt.commitments_root
    assert verifier_for(spec, store, data).verify(out.receipt, liar, segments=[0]).reason == "bad-opening"


def test_challenge_draw_is_distinct_sorted_and_bounded(keys) -> None:  # type: ignore[no-untyped-def]
    for n, q in ((10, 2), (3, 5), (1, 1)):
        chosen = draw_segments(keys[0], CHAIN, bytes(32), n, q)
        assert chosen == sorted(set(chosen)) and len(chosen) == min(n, q) and all(0 <= j < n for j in chosen)


def test_verifier_draws_with_its_key_once_per_receipt(spec, store, data, keys, mine) -> None:
    from app.pot.verify import TaskView, Verifier

    from .conftest import ANCHOR, CPU

    out = mine(spec, keys[0])
    view = TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)
    v = Verifier(CHAIN, {TASK_ID: view}, store, lambda _s: data, CPU, key=keys[3])
    assert v.draw(out.receipt, 3) == draw_segments(keys[3], CHAIN, out.receipt.receipt_id, 3, 2)


def test_lm_receipt_made_with_one_thread_verifies_with_two(store, data, keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Thread count changes float rounding in the transformer; the CPU tolerance must absorb it."""
    from app.miner import demo
    from app.miner.loop import train_round
    from app.miner.resume import ResumeDir
    from app.pot.blobs import MemoryBlobStore
    from app.pot.datasets import load_dataset

    from .conftest import CPU, make_job

    lm = demo.task_spec("fables", "tiny-lm", local_steps=8, checkpoint_interval=4, batch_size=8)
    lm_store = MemoryBlobStore()
    demo.seed_blobs(lm_store, lm)
    text = load_dataset(lm_store, demo.manifest_for_root(lm.dataset_root), lm.dataset_root)
    out = train_round(make_job(lm), keys[0], lm_store, text, device=CPU, resume=ResumeDir(tmp_path))
    torch.set_num_threads(2)
    try:
        verdict = verifier_for(lm, lm_store, text).verify(out.receipt, out.trace, segments=[0, 1])  # type: ignore[union-attr]
    finally:
        torch.set_num_threads(1)
    assert verdict.accepted, verdict


def test_task_with_an_impossible_schedule_is_a_verdict_not_a_crash(spec, store, data, keys, mine) -> None:
    out = mine(spec, keys[0])
    verdict = verifier_for(spec.replace(local_steps=13), store, data).verify(out.receipt, out.trace)
    assert (verdict.accepted, verdict.reason) == (False, "bad-schedule")


def test_checkpoints_with_wrong_shapes_are_rejected_not_broadcast(spec, store, data, keys, mine) -> None:
    """A checkpoint whose tensors have other shapes is malformed wherever it is met: as the final (the
    end of segment 2, replayed before the update rule is checked) or as a segment's end."""
    out = mine(spec, keys[0])
    for index, segment, reason in ((3, 2, "malformed-checkpoint"), (2, 1, "malformed-checkpoint")):
        ckpt = decode_tensors(store.get(out.trace.checkpoints[index]))
        name = next(k for k in ckpt if k.startswith(optim.PARAM) and ckpt[k].ndim == 2)
        ckpt[name] = ckpt[name][:1].clone()  # one row: would broadcast in a careless subtraction
        checkpoints = list(out.trace.checkpoints)
        checkpoints[index] = store.put(encode_tensors(ckpt))
        bad = resign(out, keys[0], store, checkpoints) if index != 3 else None
        if bad is None:  # the final checkpoint: the update cannot even be formed, so sign by hand
            receipt = out.receipt.replace(commitments_root=merkle_root(checkpoints), signature=NO_SIGNATURE).signed_by(
                keys[0]
            )
            bad = RoundOutput(receipt, TrainingTrace(checkpoints=tuple(checkpoints), samples=0), out.update_hash)
        verdict = verifier_for(spec, store, data).verify(bad.receipt, bad.trace, segments=[segment])
        assert (verdict.accepted, verdict.reason) == (False, reason), verdict


class _CountingStore(MemoryBlobStore):
    """A memory store that counts the reads of each blob (how often a verifier fetched it)."""

    def __init__(self, source: MemoryBlobStore) -> None:
        super().__init__()
        self._blobs = dict(source._blobs)
        self.reads: dict[bytes, int] = {}

    def get(self, digest: bytes) -> bytes:
        self.reads[digest] = self.reads.get(digest, 0) + 1
        return super().get(digest)


def test_a_rounds_base_is_decoded_once_for_all_its_receipts_and_never_changed(spec, store, data, keys, mine) -> None:
    """Two miners' receipts of one round, verified on every segment with a shared `DecodedCache`: the base
    blob is read once, and replaying segment 0 (which loads the cached base into a training session and
    steps it) leaves the cached tensors exactly as decoded: no receipt can alter what the next one starts
    from."""
    outs = [mine(spec, keys[0]), mine(spec, keys[1])]
    counting = _CountingStore(store)
    cache = DecodedCache()
    view = TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)
    verifier = Verifier(CHAIN, {TASK_ID: view}, counting, lambda _spec: data, CPU, cache=cache)
    for out in outs:
        assert verifier.verify(out.receipt, out.trace, segments=ALL).accepted
    assert counting.reads[spec.initial_checkpoint] == 1
    cached = cache.get(spec.initial_checkpoint)
    assert cached is not None
    fresh = decode_tensors(store.get(spec.initial_checkpoint))
    assert set(cached) == set(fresh) and all(torch.equal(cached[k], fresh[k]) for k in fresh)
    without = Verifier(CHAIN, {TASK_ID: view}, _CountingStore(store), lambda _spec: data, CPU)
    for out in outs:
        assert without.verify(out.receipt, out.trace, segments=ALL).accepted
    assert without.store.reads[spec.initial_checkpoint] == 2  # type: ignore[attr-defined]


def test_decoded_cache_keeps_the_most_recent_entries_within_its_budget() -> None:
    def tensors(i: int) -> dict[str, torch.Tensor]:
        return {"t": torch.full((256,), float(i))}  # 1 KiB

    cache = DecodedCache(max_bytes=2048)
    for i in range(3):
        cache.put(bytes([i]) * 32, tensors(i))
    assert cache.get(bytes([0]) * 32) is None
    assert cache.get(bytes([1]) * 32) is not None and cache.get(bytes([2]) * 32) is not None
    assert cache.held_bytes == 2048
    cache.get(bytes([1]) * 32)  # used last: the next entry pushes out 2, not 1
    cache.put(bytes([3]) * 32, tensors(3))
    assert cache.get(bytes([2]) * 32) is None and cache.get(bytes([1]) * 32) is not None
    cache.put(bytes([4]) * 32, {"t": torch.zeros(1024)})  # 4 KiB: over the whole budget, not kept
    assert cache.get(bytes([4]) * 32) is None and cache.held_bytes == 2048


def test_a_prefetched_segment_start_that_is_corrupt_or_withheld_gets_its_own_verdict(
    spec, store, data, keys, mine
) -> None:
    """The challenged segments' starts are read on a background thread: a lying store's bytes for one of
    them are still caught (blob-hash-mismatch), a withheld one is still `unavailable`, and the thread is
    gone when `verify` returns."""
    out = mine(spec, keys[0])
    start = out.trace.checkpoints[1]
    lying = _CountingStore(store)
    lying.corrupt(start, bytes(store.get(start))[:-4] + b"\0\0\0\0")
    verdict = verifier_for(spec, lying, data).verify(out.receipt, out.trace, segments=[0, 1])
    assert (verdict.accepted, verdict.reason) == (False, "blob-hash-mismatch"), verdict
    withheld = _CountingStore(store)
    withheld.delete(start)
    verdict = verifier_for(spec, withheld, data).verify(out.receipt, out.trace, segments=[0, 1])
    assert (verdict.accepted, verdict.reason) == (False, UNAVAILABLE), verdict
    assert not [t for t in threading.enumerate() if t.name.startswith("verify-prefetch")]


def test_a_withheld_final_is_reported_before_a_later_segments_withheld_start(spec, store, data, keys, mine) -> None:
    """Prefetching keeps the verdict in the order of use, whatever the background thread met first: with
    the final checkpoint (needed after the first segment, for the update rule) and the second challenged
    segment's start both withheld, the verdict names the final."""
    out = mine(spec, keys[0])
    partial = _CountingStore(store)
    partial.delete(out.trace.checkpoints[1])
    partial.delete(out.trace.checkpoints[-1])
    verdict = verifier_for(spec, partial, data).verify(out.receipt, out.trace, segments=[0, 1])
    assert verdict.reason == UNAVAILABLE and f"checkpoint {len(out.trace.checkpoints) - 1}" in verdict.detail, verdict
