"""Per-tensor comparison of a replayed checkpoint with the committed one: exact, or within measured bounds.

Every tensor is held to its own scale, so no tensor can hide inside another's norm (the old single
vector let AdamW's step counters, ~100x larger than the moments, absorb an almost complete rewrite of
`exp_avg` and `exp_avg_sq`):

- a parameter: ``||P_replay - P_committed|| / ||P_committed - P_start||``, the error against the
  distance that tensor travelled in the segment. Against its own norm a 1e-3 bound would leave room
  for ~100 segments' worth of movement in a direction of the miner's choosing; against its travel the
  room is a fixed fraction of the honest step, whatever the model or learning rate.
- an optimiser slot (`exp_avg`, `exp_avg_sq`, `momentum_buffer`): ``||S_replay - S_committed|| /
  ||S_committed||`` (a slot has no "start": the base checkpoint has none).
- an integer slot (AdamW's `step`): equal, always.

`Bounds` holds one bound per tensor kind. `EXACT` (all zeros) applies when the verifier reproduces
the receipt's configuration (`app.miner.config.reproducible`); otherwise `cross_bounds` picks the
bounds for the pair (verifier class, receipt class), measured from honest noise
(`scripts/measure_tolerances.py`, docs/TOLERANCES.md). The miner's label only selects among pairs
whose bounds are at most those the verifier would apply to its own class.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from app.miner import optim

KINDS = ("param", "exp_avg", "exp_avg_sq", "momentum_buffer")
INTEGER_SLOTS = ("step",)
_TINY = 1e-30


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
        scale = _norm(committed - start)
    else:
        scale = _norm(committed)
    return diff / scale if scale > _TINY else math.inf


def distances(replay: Mapping[str, torch.Tensor], committed: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor]) -> dict[str, float]:
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

# Measured honest noise and the bounds set from it: docs/TOLERANCES.md (per pair: 3x the worst honest
# per-tensor distance over the registry models, rounded up; every cheat of tests/adversarial/ needs
# more room than this). Keys: (verifier class, receipt class).
CPU_CROSS = Bounds(param=2e-3, exp_avg=3e-3, exp_avg_sq=3e-3, momentum_buffer=3e-3)
# Provisional until measured on a GPU (scripts/gpu_check.sh): the same as CPU_CROSS, which bounds a
# 1e-6 relative perturbation of the start (a stand-in for another device's rounding) with room to
# spare. A `cuda` label earns a CPU verifier's acceptance only within this room, which the steering
# and tolerance-riding cheats of tests/adversarial/ cannot use.
CPU_GPU = CPU_CROSS
CROSS_BOUNDS: dict[tuple[str, str], Bounds] = {
    ("cpu", "cpu"): CPU_CROSS,
    ("cpu", "cuda"): CPU_GPU,
    ("cpu", "mps"): CPU_GPU,
    ("cuda", "cpu"): CPU_GPU,
    ("cuda", "cuda"): CPU_GPU,
    ("cuda", "mps"): CPU_GPU,
    ("mps", "cpu"): CPU_GPU,
    ("mps", "cuda"): CPU_GPU,
    ("mps", "mps"): CPU_GPU,
}


def cross_bounds(verifier_class: str, receipt_class: str, table: Mapping[tuple[str, str], Bounds] = CROSS_BOUNDS) -> Bounds:
    """The bounds a `verifier_class` verifier applies to a receipt of `receipt_class` it cannot reproduce.

    The pair's honest noise, as the verifier measured it: the receipt's label only says which pair.
    """
    return table[(verifier_class, receipt_class)]


@dataclass(frozen=True)
class Excess:
    """The tensor that broke its bound, for the verdict's detail."""

    name: str
    distance: float
    bound: float

    def __str__(self) -> str:
        return f"{self.name}: relative distance {self.distance:.3g} > {self.bound:g}"


def first_excess(replay: Mapping[str, torch.Tensor], committed: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor], bounds: Bounds) -> Excess | None:
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
