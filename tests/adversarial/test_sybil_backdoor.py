"""Several keys (Sybils) submit backdoored updates in one round: which layer stops them.

Five Sybil miners run the real training loop on a poisoned copy of the digits data (half the samples
carry a trigger patch and are relabelled 0); three honest miners train on the task's data. Each
Sybil's update alone makes the trigger work on almost every held-out digit.

1. Replay: the data order is seeded by the miner's key and the data set is fixed by the task, so a
   miner cannot choose its samples: every Sybil receipt fails re-execution of any segment.
2. If that layer were bypassed, the robust aggregate alone does not help against a Sybil majority
   (clipping bounds norms, and the trimmed mean keeps the majority's values), so the trigger works
   on a large share of digits; the usefulness rule leaves the Sybil updates out (each raises the
   held-out loss far beyond honest noise) and the aggregate is exactly the honest one.
"""

from __future__ import annotations

import pytest
import torch

from app.core import crypto
from app.miner import demo
from app.pot.aggregate import aggregate_round, robust_mean
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split, load_dataset, load_split
from app.pot.tensors import decode_tensors
from tests.adversarial.backdoor import backdoor_success, poison, train
from tests.miner.conftest import make_job
from tests.pot.conftest import TASK_ID, verifier_for

HONEST, SYBILS, WARMUP_ROUNDS = 3, 5, 2


@pytest.fixture(scope="module")
def attack(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("sybil")
    spec = demo.task_spec(local_steps=40, checkpoint_interval=10, batch_size=32)
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    validation = load_split(store, [spec.validation_shard])
    keys = [crypto.SigningKey.from_seed(bytes([40 + i]) * 32) for i in range(HONEST + SYBILS)]
    checkpoint = spec.initial_checkpoint
    for r in range(WARMUP_ROUNDS):  # a model that already reads digits, as in a running task
        outs = [train(make_job(spec, r, checkpoint), k, store, data, tmp / f"w{r}") for k in keys[:HONEST]]
        checkpoint = aggregate_round(
            task_id=TASK_ID,
            round_number=r,
            spec=spec,
            base_checkpoint=checkpoint,
            verified=[o.receipt for o in outs],
            store=store,
            validation=validation,
        ).checkpoint_hash
    job = make_job(spec, WARMUP_ROUNDS, checkpoint)
    poisoned: Split = poison(data, 0.5)
    honest = [train(job, k, store, data, tmp / "h") for k in keys[:HONEST]]
    sybils = [train(job, k, store, poisoned, tmp / "s") for k in keys[HONEST:]]
    return {
        "spec": spec,
        "store": store,
        "data": data,
        "validation": validation,
        "base": checkpoint,
        "honest": honest,
        "sybils": sybils,
    }


def _aggregate(a: dict[str, object], outs: list, **kwargs: object):  # type: ignore[no-untyped-def]
    return aggregate_round(
        task_id=TASK_ID,
        round_number=WARMUP_ROUNDS,
        spec=a["spec"],
        base_checkpoint=a["base"],
        verified=[o.receipt for o in outs],
        store=a["store"],
        validation=a["validation"],
        **kwargs,
    )


def test_each_sybil_update_carries_the_backdoor(attack: dict[str, object]) -> None:
    store, spec, validation = attack["store"], attack["spec"], attack["validation"]
    base = decode_tensors(store.get(attack["base"]))
    assert backdoor_success(spec, base, validation) < 0.05
    for o in attack["sybils"]:
        update = decode_tensors(store.get(o.receipt.update_hash))
        assert backdoor_success(spec, {k: base[k] + update[k] for k in base}, validation) > 0.8


def test_replay_rejects_every_sybil_receipt_and_accepts_the_honest_ones(attack: dict[str, object]) -> None:
    verifier = verifier_for(
        attack["spec"], attack["store"], attack["data"], current_round=WARMUP_ROUNDS, current_checkpoint=attack["base"]
    )
    for o in attack["sybils"]:
        verdict = verifier.verify(o.receipt, o.trace)
        assert not verdict.accepted and verdict.reason == "segment-mismatch", verdict
    for o in attack["honest"]:
        assert verifier.verify(o.receipt, o.trace).accepted


def test_without_replay_the_usefulness_rule_removes_a_sybil_majority_the_trimmed_mean_keeps(
    attack: dict[str, object],
) -> None:
    store, spec, validation = attack["store"], attack["spec"], attack["validation"]
    base = decode_tensors(store.get(attack["base"]))
    everyone = attack["honest"] + attack["sybils"]
    updates = [decode_tensors(store.get(o.receipt.update_hash)) for o in everyone]
    plain = robust_mean(updates, trim_fraction=0.0, clip_multiple=1e9)
    trimmed = _aggregate(attack, everyone, usefulness=None)
    assert backdoor_success(spec, {k: base[k] + plain[k] for k in base}, validation) > 0.1
    assert backdoor_success(spec, decode_tensors(trimmed.checkpoint), validation) > 0.1

    filtered = _aggregate(attack, everyone)
    honest_only = _aggregate(attack, attack["honest"])
    assert set(filtered.left_out) == {o.receipt.receipt_id for o in attack["sybils"]}
    assert not honest_only.left_out and not filtered.kept_base
    assert filtered.checkpoint_hash == honest_only.checkpoint_hash  # the Sybils changed nothing
    assert backdoor_success(spec, decode_tensors(filtered.checkpoint), validation) < 0.05
    assert set(filtered.result.receipt_ids) == {o.receipt.receipt_id for o in everyone}
