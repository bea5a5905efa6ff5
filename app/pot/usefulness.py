"""Usefulness beside correctness: does a verified update make the task's held-out loss worse?

Replay proves that an update was trained as claimed; it does not prove that the update helps (an
overfitting round, a degenerate task, or honestly trained work on a bad base can all raise the loss).
Before aggregation every update is scored on the task's validation split by a *paired* comparison:
for each held-out sample `j`, `d_j = loss_j(W_r + u) - loss_j(W_r)`. The update's effect is the mean
`delta = mean(d)`; the honest noise of that estimate is its standard error `se = std(d) / sqrt(n)`
(the validation set is a sample of the task's distribution, so a change smaller than a few standard
errors cannot be told apart from no change). An update is useful when

    delta <= min(Z * se, MAX_RISE * base_loss) + FLOOR

(the cap keeps a heavy-tailed `d`, e.g. a diverging model's, from buying a large rise with a large se)

and is left out of the aggregate otherwise. The same rule guards the aggregate itself: if the
aggregate of the useful updates still fails it against W_r, the round's checkpoint stays W_r, so the
next global checkpoint never makes the held-out loss worse than that noise allows (issue 14).
docs/PROTOCOL.md ("Usefulness") states the rule and the measured honest figures.

Scores are computed on the CPU (float32 forward pass, float64 per-sample losses and sums), whatever
device trains, so committee members reach the same keep/leave-out decision: an update is fixed by
replay before it is scored, so nobody can tune it to sit on the threshold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from app.core.types import TaskSpec
from app.pot import optim
from app.pot.datasets import Split
from app.pot.engine import Session

Tensors = Mapping[str, torch.Tensor]
CPU = torch.device("cpu")

# Z = 3 standard errors: an honest update that leaves the loss unchanged is left out with
# probability ~0.13% (one-sided normal); FLOOR (nats) absorbs the last-digit noise of the forward pass
# and a validation set whose paired differences are all ~0 (se ~ 0).
Z = 3.0
FLOOR = 1e-4
MAX_RISE = 0.05  # of the base's mean held-out loss: the most the noise allowance may ever reach


@dataclass(frozen=True)
class UsefulnessRule:
    """Keep an update iff its mean paired held-out loss change is at most
    `min(z * se, max_rise * base_loss) + floor`."""

    z: float = Z
    floor: float = FLOOR
    max_rise: float = MAX_RISE

    def __post_init__(self) -> None:
        values = (self.z, self.floor, self.max_rise)
        if not all(v >= 0 and math.isfinite(v) for v in values):
            raise ValueError(f"usefulness rule needs finite z >= 0, floor >= 0 and max_rise >= 0, got {values}")

    def allowance(self, se: float, base_loss: float) -> float:
        """The largest rise of the mean held-out loss still counted as honest noise."""
        return min(self.z * se, self.max_rise * abs(base_loss)) + self.floor

    def allows(self, delta: float, se: float, base_loss: float) -> bool:
        return math.isfinite(delta) and math.isfinite(se) and delta <= self.allowance(se, base_loss)


DEFAULT_RULE = UsefulnessRule()


@dataclass(frozen=True)
class Score:
    """One candidate's effect on the held-out loss: mean paired change, its standard error, the
    base's mean loss, the noise allowance the rule gave it and the verdict."""

    delta: float
    se: float
    base_loss: float
    allowance: float
    useful: bool

    @property
    def z(self) -> float:
        """delta in standard errors (inf when se is 0 and delta > 0)."""
        if self.se > 0:
            return self.delta / self.se
        return 0.0 if self.delta == 0 else math.copysign(math.inf, self.delta)


@torch.no_grad()
def sample_losses(spec: TaskSpec, params: Tensors, data: Split, batch: int = 512) -> torch.Tensor:
    """Per-sample mean cross-entropy (float64, on the CPU) of the model with `params` over `data`."""
    if len(data) == 0:
        raise ValueError("the validation split is empty: usefulness cannot be scored")
    session = Session(spec, CPU)
    session.load(optim.params_of(params))
    session.model.eval()
    out = []
    for i in range(0, len(data), batch):
        x = data.inputs[i : i + batch].to(CPU)
        y = data.targets[i : i + batch].to(CPU)
        logits = session.model(x).double()
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).long(), reduction="none")
        out.append(loss.reshape(y.shape[0], -1).mean(dim=1))
    return torch.cat(out)


def paired_score(base_losses: torch.Tensor, losses: torch.Tensor, rule: UsefulnessRule = DEFAULT_RULE) -> Score:
    """Score per-sample losses against the base's on the same samples (see the module docstring)."""
    if base_losses.shape != losses.shape or base_losses.ndim != 1:
        raise ValueError("paired scoring needs per-sample losses of the same samples")
    d = (losses.double() - base_losses.double()).tolist()
    n = len(d)
    if n == 0:
        raise ValueError("paired scoring needs at least one held-out sample")
    if not all(math.isfinite(x) for x in d) or not bool(torch.isfinite(base_losses).all()):
        return Score(math.inf, math.inf, math.inf, rule.floor, False)  # a non-finite loss is never useful
    base_loss = math.fsum(base_losses.double().tolist()) / n
    delta = math.fsum(d) / n
    var = math.fsum((x - delta) ** 2 for x in d) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return Score(delta, se, base_loss, rule.allowance(se, base_loss), rule.allows(delta, se, base_loss))


def score_update(
    spec: TaskSpec,
    base: Tensors,
    update: Tensors,
    validation: Split,
    base_losses: torch.Tensor | None = None,
    rule: UsefulnessRule = DEFAULT_RULE,
) -> Score:
    """The held-out effect of applying `update` (parameters only) to `base`."""
    if base_losses is None:
        base_losses = sample_losses(spec, base, validation)
    params = optim.params_of(base)
    if set(update) != set(params):
        raise ValueError("the update does not match the base checkpoint's parameters")
    moved = {k: params[k] + update[k] for k in sorted(params)}
    return paired_score(base_losses, sample_losses(spec, moved, validation), rule)
