"""Per-tensor distances: each tensor against its own scale, integer state exact."""

from __future__ import annotations

import math

import torch

from app.pot.tolerance import EXACT, Bounds, cross_bounds, distance, first_excess


def test_parameter_distance_is_relative_to_its_travel_and_slots_to_their_norm() -> None:
    start, end = torch.zeros(4), torch.ones(4)
    assert distance("param.w", end.clone(), end, start) == 0.0
    assert math.isclose(distance("param.w", end + 0.01, end, start), 0.01, rel_tol=1e-3)
    assert math.isclose(distance("opt.w.exp_avg", 2 * end, end, None), 1.0)
    assert distance("opt.w.step", torch.tensor([5.0]), torch.tensor([4.0]), None) == math.inf
    assert distance("param.w", torch.ones(3), end, start) == math.inf  # other shape: never broadcast
    assert distance("param.w", torch.full((4,), float("nan")), end, start) == math.inf


def test_a_slot_cannot_hide_behind_the_step_counters() -> None:
    """The old joint norm let a rewrite of the moments pass next to large step counters."""
    committed = {"opt.w.step": torch.tensor([200.0]), "opt.w.exp_avg": torch.full((8,), 1e-3)}
    replay = {"opt.w.step": torch.tensor([200.0]), "opt.w.exp_avg": torch.full((8,), -1e-3)}
    excess = first_excess(replay, committed, {}, Bounds(1e-2, 1e-2, 1e-2, 1e-2))
    assert excess is not None and excess.name == "opt.w.exp_avg" and excess.distance == 2.0


def test_exact_bounds_reject_one_ulp_and_missing_tensors() -> None:
    t = torch.ones(3)
    assert first_excess({"param.w": t}, {"param.w": t.clone()}, {"param.w": torch.zeros(3)}, EXACT) is None
    off = torch.nextafter(t, torch.full_like(t, 2.0))
    assert first_excess({"param.w": off}, {"param.w": t}, {"param.w": torch.zeros(3)}, EXACT) is not None
    assert first_excess({}, {"param.w": t}, {}, EXACT).name == "param.w"  # type: ignore[union-attr]


def test_a_label_picks_a_measured_pair_and_models_may_have_their_own_row() -> None:
    assert cross_bounds("cpu", "cpu").param < cross_bounds("cpu", "cuda").param
    assert cross_bounds("cpu", "cpu", model="tiny-lm").exp_avg == cross_bounds("cpu", "cpu").exp_avg
    assert cross_bounds("cpu", "cuda", model="no-such-model") == cross_bounds("cpu", "cuda")
