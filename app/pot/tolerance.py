"""Per-tensor comparison of a replayed checkpoint with the committed one: exact, or within measured bounds.

Every tensor is held to its own scale, so no tensor can hide inside another's norm (the old single
vector let AdamW's step counters, ~100x larger than the moments, absorb an almost complete rewrite of
`exp_avg` and `exp_avg_sq`):

- a parameter: ``||P_replay - P_committed|| / (||P_committed - P_start|| + f ||P_committed||)``, the
  error against the distance that tensor travelled in the segment, with a floor `f` (`PARAM_FLOOR`,
  half an ulp per step over 20 steps) for a tensor that barely moved and so cannot be replayed closer
  than its own float32 rounding. Against its own norm a 1e-3 bound would leave room
  for ~100 segments' worth of movement in a direction of the miner's choosing; against its travel the
  room is a fixed fraction of the honest step, whatever the model or learning rate.
- an optimiser slot (`exp_avg`, `exp_avg_sq`, `momentum_buffer`): ``||S_replay - S_committed|| /
  ||S_committed||`` (a slot has no "start": the base checkpoint has none).
- an integer slot (AdamW's `step`): equal, always.

`Bounds` holds one bound per tensor kind. `EXACT` (all zeros) applies when the verifier reproduces
the receipt's configuration (`app.pot.config.reproducible`); otherwise `cross_bounds` picks the
bounds for the pair (verifier class, receipt class), measured from honest noise
(`scripts/measure_tolerances.py`, docs/TOLERANCES.md). The miner's label only selects among pairs
whose bounds are at most those the verifier would apply to its own class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from app.pot import optim

KINDS = ("param", "exp_avg", "exp_avg_sq", "momentum_buffer")
INTEGER_SLOTS = ("step",)
_TINY = 1e-30
PARAM_FLOOR = 2.0**-24 * 20  # half an ulp per step over a k=20 segment, relative to the tensor's norm


def kind_of(name: str) -> str:
    """The tensor kind of a checkpoint entry: "param", a slot name, or "step"."""
    if name.startswith(optim.PARAM):
        return "param"
    return name.rsplit(".", 1)[-1]


def _norm(t: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(t.double()))


def distance(name: str, replay: torch.Tensor, committed: torch.Tensor, start: torch.Tensor | None) -> float:
    """The relative distance of one tensor (0.0 when bit-identical, inf when not comparable)."""
    if replay.shape != committed.shape or replay.dtype != committed.dtype:
        return math.inf
    if torch.equal(replay, committed):
        return 0.0
    if not (bool(torch.isfinite(replay).all()) and bool(torch.isfinite(committed).all())):
        return math.inf
    kind = kind_of(name)
    if kind in INTEGER_SLOTS:
        return math.inf
    diff = _norm(replay - committed)
    if kind == "param":
        if start is None or start.shape != committed.shape:
            return math.inf
        # plus a floor at float32's resolution of the tensor itself: a tensor that barely moved in the
        # segment (a rarely used embedding row block) cannot be replayed closer than its own rounding
        scale = _norm(committed - start) + PARAM_FLOOR * _norm(committed)
    else:
        scale = _norm(committed)
    return diff / scale if scale > _TINY else math.inf


def distances(
    replay: Mapping[str, torch.Tensor], committed: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor]
) -> dict[str, float]:
    """Each tensor's distance; a missing or extra tensor is inf under its name."""
    out = {n: math.inf for n in set(replay) ^ set(committed)}
    for n in set(replay) & set(committed):
        out[n] = distance(n, replay[n], committed[n], start.get(n))
    return out


@dataclass(frozen=True)
class Bounds:
    """Largest accepted relative distance per tensor kind (the integer `step` is always exact)."""

    param: float
    exp_avg: float
    exp_avg_sq: float
    momentum_buffer: float

    def of(self, kind: str) -> float:
        return 0.0 if kind in INTEGER_SLOTS else float(getattr(self, kind, 0.0))

    @property
    def exact(self) -> bool:
        return all(self.of(k) == 0.0 for k in KINDS)


EXACT = Bounds(0.0, 0.0, 0.0, 0.0)

# Measured honest noise and the bounds set from it (docs/TOLERANCES.md, scripts/measure_tolerances.py):
# about 3-10x the worst honest per-tensor distance measured, per tensor kind. Keys: (verifier class,
# receipt class), with per-model rows where a model's noise differs by orders of magnitude; a model
# without its own row gets the pair's default, which is the tightest measured.
#
# CPU vs CPU (another thread count; stands in for another build): mlp/cnn worst 4.95e-6 (param),
# 1.8e-6 (exp_avg), 4.9e-7 (exp_avg_sq). The transformer's parameters reach 0.12 (tensors that barely
# move, whose Adam steps are ratios of tiny moments): its parameter bound cannot bind; its moments can
# (honest 1.8e-6, another data order 0.16), and its receipts should be verified exactly.
CPU_CROSS = Bounds(param=2e-5, exp_avg=6e-6, exp_avg_sq=2e-6, momentum_buffer=6e-6)
# CPU vs GPU: provisional until measured on a GPU (scripts/gpu_check.sh, measure_tolerances.py
# --device cuda): 3x the distance a relative 1e-6 perturbation of the start gives (a stand-in for
# another device's rounding). For the digits MLP this leaves a `cuda` label 3e-3 of a segment's travel,
# which the steering and tolerance-riding cheats of tests/adversarial/ cannot use.
CPU_GPU = Bounds(param=3e-3, exp_avg=4e-4, exp_avg_sq=3e-5, momentum_buffer=4e-4)
_CLASSES = ("cpu", "cuda", "mps")
CROSS_BOUNDS: dict[tuple[str, ...], Bounds] = {
    (v, r): CPU_CROSS if v == r == "cpu" else CPU_GPU for v in _CLASSES for r in _CLASSES
}
CROSS_BOUNDS[("cpu", "cpu", "tiny-lm")] = Bounds(param=0.3, exp_avg=6e-6, exp_avg_sq=2e-6, momentum_buffer=6e-6)
for _v, _r in ((v, r) for v in _CLASSES for r in _CLASSES if not v == r == "cpu"):
    CROSS_BOUNDS[(_v, _r, "cnn")] = Bounds(param=3e-2, exp_avg=5e-2, exp_avg_sq=3e-2, momentum_buffer=5e-2)
    CROSS_BOUNDS[(_v, _r, "tiny-lm")] = Bounds(param=0.3, exp_avg=5e-5, exp_avg_sq=1.5e-5, momentum_buffer=5e-5)


def cross_bounds(
    verifier_class: str, receipt_class: str, table: Mapping[tuple[str, ...], Bounds] = CROSS_BOUNDS, model: str = ""
) -> Bounds:
    """The bounds a `verifier_class` verifier applies to a `receipt_class` receipt of `model` it cannot reproduce.

    The pair's honest noise, as measured: the receipt's label only says which pair.
    """
    return table.get((verifier_class, receipt_class, model)) or table[(verifier_class, receipt_class)]


@dataclass(frozen=True)
class Excess:
    """The tensor that broke its bound, for the verdict's detail."""

    name: str
    distance: float
    bound: float

    def __str__(self) -> str:
        return f"{self.name}: relative distance {self.distance:.3g} > {self.bound:g}"


def first_excess(
    replay: Mapping[str, torch.Tensor],
    committed: Mapping[str, torch.Tensor],
    start: Mapping[str, torch.Tensor],
    bounds: Bounds,
) -> Excess | None:
    """The worst tensor over its bound (by ratio), or None when every tensor is within its bound."""
    worst: Excess | None = None
    worst_ratio = 1.0
    for name, d in sorted(distances(replay, committed, start).items()):
        bound = bounds.of(kind_of(name))
        if d <= bound:
            continue
        ratio = math.inf if bound == 0.0 else d / bound
        if worst is None or ratio > worst_ratio:
            worst, worst_ratio = Excess(name, d, bound), ratio
    return worst
