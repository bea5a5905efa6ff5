"""Aggregation is robust and reproducible, and over rounds the task's validation loss falls."""

from __future__ import annotations

import torch
from hypothesis import given, settings, strategies as st

from app.core.types import NO_SIGNATURE
from app.pot.aggregate import aggregate_round, exact_norm, robust_mean
from app.pot.datasets import Split
from app.pot.tensors import decode_tensors

from .conftest import TASK_ID, verifier_for


def test_trimmed_mean_ignores_one_outlier_per_coordinate() -> None:
    ups = [{"w": torch.tensor([1.0, 2.0])} for _ in range(4)] + [{"w": torch.tensor([1e6, -1e6])}]
    mean = robust_mean(ups, trim_fraction=0.2, clip_multiple=1e9)
    assert torch.equal(mean["w"], torch.tensor([1.0, 2.0]))


def test_clipping_bounds_a_huge_update_to_a_multiple_of_the_median_norm() -> None:
    ups = [{"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([3.0, 4.0])}, {"w": torch.tensor([300.0, 400.0])}]
    mean = robust_mean(ups, trim_fraction=0.0, clip_multiple=2.0)
    # norms 5, 5, 500 -> the third is clipped to 10: (3+3+6)/3, (4+4+8)/3
    assert torch.allclose(mean["w"], torch.tensor([4.0, 16.0 / 3]))


def test_updates_of_different_shapes_are_refused() -> None:
    try:
        robust_mean([{"w": torch.zeros(2)}, {"w": torch.zeros(3)}])
    except ValueError as exc:
        assert "architecture" in str(exc)
    else:
        raise AssertionError("shape mismatch accepted")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.floats(-1e3, 1e3, width=32), min_size=3, max_size=3), min_size=1, max_size=6))
def test_aggregate_is_order_free_given_sorted_input_and_inside_the_value_range(rows: list[list[float]]) -> None:
    ups = [{"w": torch.tensor(r, dtype=torch.float32)} for r in rows]
    a = robust_mean(ups, clip_multiple=1e9)["w"]
    b = robust_mean(list(reversed(ups)), clip_multiple=1e9)["w"]
    assert torch.equal(a, b)  # values are summed in sorted order, so input order cannot change a bit
    stacked = torch.stack([u["w"] for u in ups])
    assert bool((a >= stacked.min(0).values - 1e-3).all()) and bool((a <= stacked.max(0).values + 1e-3).all())


def test_exact_norm_does_not_depend_on_summation_order() -> None:
    t = {"a": torch.tensor([1e8, 1.0, -1e8], dtype=torch.float32), "b": torch.tensor([3.0])}
    assert exact_norm(t) == exact_norm({"b": t["b"], "a": t["a"].flip(0)})


def test_three_honest_miners_lower_the_validation_loss_and_a_liar_never_gets_in(
    spec, store, data, validation, keys, mine
) -> None:
    rounds_spec = spec.replace(local_steps=16, checkpoint_interval=8)
    honest, liar = keys[:3], keys[3]
    poisoned = Split(data.inputs, (data.targets + 3) % 10)
    checkpoint = rounds_spec.initial_checkpoint
    base = decode_tensors(store.get(checkpoint))
    from app.pot.engine import evaluate

    losses = [evaluate(rounds_spec, base, validation, torch.device("cpu"))]
    for r in range(3):
        outs = [mine(rounds_spec, k, r, checkpoint) for k in honest]
        lie = mine(rounds_spec, liar, r, checkpoint, on=poisoned)
        v = verifier_for(rounds_spec, store, data, current_round=r, current_checkpoint=checkpoint)
        verdicts = {o.receipt.receipt_id: v.verify(o.receipt, o.trace) for o in outs + [lie]}
        assert not verdicts[lie.receipt.receipt_id].accepted
        verified = [o.receipt for o in outs + [lie] if verdicts[o.receipt.receipt_id].accepted]
        agg = aggregate_round(
            task_id=TASK_ID,
            round_number=r,
            spec=rounds_spec,
            base_checkpoint=checkpoint,
            verified=verified,
            store=store,
            validation=validation,
        )
        assert lie.receipt.receipt_id not in agg.result.receipt_ids
        assert len(agg.result.receipt_ids) == 3
        assert not agg.left_out and not agg.kept_base  # honest updates of a task that improves are all useful
        checkpoint = agg.checkpoint_hash
        losses.append(agg.validation_loss)
        assert agg.result.validation_loss_micro == int(agg.validation_loss * 1e6)
    assert losses[-1] < losses[0] * 0.7, losses
    assert all(b < a for a, b in zip(losses, losses[1:])), losses


def test_aggregation_is_bit_reproducible_and_only_uses_the_given_receipts(spec, store, validation, keys, mine) -> None:
    outs = [mine(spec, k) for k in keys[:2]]
    kwargs = dict(
        task_id=TASK_ID,
        round_number=0,
        spec=spec,
        base_checkpoint=spec.initial_checkpoint,
        store=store,
        validation=validation,
    )
    a = aggregate_round(verified=[o.receipt for o in outs], **kwargs)
    b = aggregate_round(verified=[o.receipt for o in reversed(outs)], **kwargs)
    assert a.checkpoint_hash == b.checkpoint_hash
    alone = aggregate_round(verified=[outs[0].receipt], **kwargs)
    assert alone.checkpoint_hash != a.checkpoint_hash
    none = aggregate_round(verified=[], **kwargs)
    assert none.checkpoint_hash == spec.initial_checkpoint
    wrong_round = outs[0].receipt.replace(round=5, signature=NO_SIGNATURE)
    try:
        aggregate_round(verified=[wrong_round], **kwargs)
    except ValueError:
        pass
    else:
        raise AssertionError("a receipt of another round was aggregated")
