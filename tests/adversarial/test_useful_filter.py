"""Usefulness beside correctness: verified updates that make the held-out loss worse stay out.

Replay proves an update was trained as claimed, not that it helps. Honest miners of a task whose
learning rate diverges (AdamW at lr 1) produce updates that replay exactly yet raise the validation
loss far beyond honest noise; aggregated as before, the next global checkpoint is worse than the base.
With the usefulness rule every one of them is left out and the round keeps its base checkpoint.
"""

from __future__ import annotations

import pytest
import torch

from app.core import crypto
from app.miner import demo
from app.pot.aggregate import aggregate_round
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split, load_dataset, load_split
from app.pot.tensors import decode_tensors
from app.pot.usefulness import DEFAULT_RULE, UsefulnessRule, paired_score, sample_losses, score_update
from tests.adversarial.backdoor import train
from tests.miner.conftest import make_job
from tests.pot.conftest import TASK_ID, verifier_for

MINERS = 4


@pytest.fixture(scope="module")
def diverging(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    torch.set_num_threads(1)
    spec = demo.task_spec(
        local_steps=12, checkpoint_interval=4, batch_size=32, optimizer_params={**demo.ADAMW, "lr": 1}
    )
    store = MemoryBlobStore()
    demo.seed_blobs(store, spec)
    data = load_dataset(store, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)
    validation = load_split(store, [spec.validation_shard])
    keys = [crypto.SigningKey.from_seed(bytes([60 + i]) * 32) for i in range(MINERS)]
    outs = [train(make_job(spec), k, store, data, tmp_path_factory.mktemp("div")) for k in keys]
    return {"spec": spec, "store": store, "data": data, "validation": validation, "outs": outs}


def _aggregate(d: dict[str, object], **kwargs: object):  # type: ignore[no-untyped-def]
    spec = d["spec"]
    return aggregate_round(
        task_id=TASK_ID,
        round_number=0,
        spec=spec,
        base_checkpoint=spec.initial_checkpoint,
        verified=[o.receipt for o in d["outs"]],
        store=d["store"],
        validation=d["validation"],
        **kwargs,
    )


def test_diverging_updates_replay_yet_without_the_rule_the_checkpoint_gets_worse(diverging: dict[str, object]) -> None:
    spec, store, validation = diverging["spec"], diverging["store"], diverging["validation"]
    verifier = verifier_for(spec, store, diverging["data"])
    assert all(verifier.verify(o.receipt, o.trace).accepted for o in diverging["outs"])
    base = decode_tensors(store.get(spec.initial_checkpoint))
    old = _aggregate(diverging, usefulness=None)
    worse = paired_score(
        sample_losses(spec, base, validation), sample_losses(spec, decode_tensors(old.checkpoint), validation)
    )
    assert worse.delta > DEFAULT_RULE.z * worse.se + DEFAULT_RULE.floor, worse


def test_the_rule_leaves_out_every_harmful_update_and_the_round_keeps_its_base(diverging: dict[str, object]) -> None:
    spec, store, validation = diverging["spec"], diverging["store"], diverging["validation"]
    agg = _aggregate(diverging)
    scores = dict(agg.scores)
    assert len(scores) == MINERS and set(agg.left_out) == set(scores)
    for score in scores.values():  # even the one within 3 standard errors rises by far more than 5% of the loss
        assert not score.useful and score.delta > score.allowance
    assert agg.kept_base and agg.checkpoint_hash == spec.initial_checkpoint
    base = decode_tensors(store.get(spec.initial_checkpoint))
    assert agg.validation_loss == pytest.approx(float(sample_losses(spec, base, validation).mean()), rel=1e-5)
    assert len(agg.result.receipt_ids) == MINERS  # verified work is still the round's (and paid)


def test_paired_score_is_the_mean_change_and_its_standard_error() -> None:
    base = torch.tensor([1.0, 1.0, 1.0, 1.0], dtype=torch.float64)
    s = paired_score(base, base + torch.tensor([0.1, 0.3, 0.1, 0.3], dtype=torch.float64))
    assert s.delta == pytest.approx(0.2) and s.se == pytest.approx((0.0133333 / 4) ** 0.5, rel=1e-4)
    assert not s.useful  # +0.2 is 3.46 standard errors above no change
    assert paired_score(base, base - 0.5).useful and paired_score(base, base).useful
    assert paired_score(base, base + 5e-5).useful  # constant last-digit noise: se 0, inside the floor
    wide = paired_score(base, base + torch.tensor([0.0, 0.0, 0.0, 4.0], dtype=torch.float64))
    assert wide.delta / wide.se < DEFAULT_RULE.z and not wide.useful  # within 3 se, but above 5% of the base loss
    assert wide.allowance == pytest.approx(0.05 * 1.0 + DEFAULT_RULE.floor)
    assert not paired_score(base, base + torch.tensor([float("nan"), 0, 0, 0], dtype=torch.float64)).useful


def test_bad_inputs_get_clear_errors(diverging: dict[str, object]) -> None:
    spec, store, validation = diverging["spec"], diverging["store"], diverging["validation"]
    with pytest.raises(ValueError, match="same samples"):
        paired_score(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="z >= 0"):
        UsefulnessRule(z=-1.0)
    with pytest.raises(ValueError, match="max_rise"):
        UsefulnessRule(floor=float("inf"))
    with pytest.raises(ValueError, match="max_rise"):
        UsefulnessRule(max_rise=-0.1)
    base = decode_tensors(store.get(spec.initial_checkpoint))
    with pytest.raises(ValueError, match="empty"):
        sample_losses(spec, base, Split(validation.inputs[:0], validation.targets[:0]))
    with pytest.raises(ValueError, match="parameters"):
        score_update(spec, base, {"param.nope": torch.zeros(1)}, validation)
