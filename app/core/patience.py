"""The patience rule: a task finishes when its validation loss stops improving (issue 14).

A task may state `patience_rounds` P and `min_improvement_micro` m in its spec. Each closed round
records the validation loss of the new global checkpoint (`RoundResult.validation_loss_micro`). A
round *improves* when its loss is at least m below the best loss so far; after P rounds in a row
without an improvement the state machine finishes the task and refunds the unspent escrow, so a
requester stops paying for work that no longer helps.

Why m has a floor: committee members re-evaluate the proposed loss and accept it within
`LOSS_TOLERANCE_MICRO` of their own (float noise across machines), so a leader can shade any
reported loss by up to t = LOSS_TOLERANCE_MICRO. With m >= 4t, a counted improvement
(R_now <= R_best - m) implies a true one of at least m - 2t >= m/2: a leader cannot keep a task
open with made-up progress, and it can hide only improvements smaller than m + 2t (finishing a
task a little early, which refunds the requester rather than paying anyone).
Pure decisions only: no I/O, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.errors import InvalidTransaction
from app.core.types import MAX_MIN_IMPROVEMENT_MICRO, MAX_PATIENCE_ROUNDS, TaskSpec

# Committee members accept a proposed validation loss within this many micro-nats of their own.
LOSS_TOLERANCE_MICRO = 1_000
MIN_IMPROVEMENT_FLOOR_MICRO = 4 * LOSS_TOLERANCE_MICRO


class InvalidPatience(InvalidTransaction):
    """A task's patience rule is out of bounds or not in its one canonical form."""


def check_patience(spec: TaskSpec) -> None:
    """Raise `InvalidPatience` unless the spec's patience rule is off (0, 0) or within bounds."""
    p, m = spec.patience_rounds, spec.min_improvement_micro
    if p == 0:
        if m != 0:
            raise InvalidPatience("min_improvement_micro must be 0 when patience_rounds is 0 (no patience rule)")
        return
    if not 1 <= p <= MAX_PATIENCE_ROUNDS:
        raise InvalidPatience(f"patience_rounds {p} outside 1..{MAX_PATIENCE_ROUNDS}")
    if not MIN_IMPROVEMENT_FLOOR_MICRO <= m <= MAX_MIN_IMPROVEMENT_MICRO:
        raise InvalidPatience(
            f"min_improvement_micro {m} outside {MIN_IMPROVEMENT_FLOOR_MICRO}..{MAX_MIN_IMPROVEMENT_MICRO}"
            f" (the floor is 4x the loss tolerance committee members allow, so shading cannot fake progress)"
        )


@dataclass(frozen=True)
class Progress:
    """A task's best validation loss so far, the rounds since it last improved, and whether to stop."""

    best_loss_micro: int | None
    stale_rounds: int
    exhausted: bool


def next_progress(spec: TaskSpec, best_loss_micro: int | None, stale_rounds: int, loss_micro: int) -> Progress:
    """The progress after a round whose new checkpoint has validation loss `loss_micro`.

    The first round sets the best; later rounds reset the count only when they beat the best by the
    margin. A smaller gain does not move the best, so small gains add up against the last counted best
    (steady slow progress still counts) while noise around a plateau does not.
    """
    if best_loss_micro is None or loss_micro + spec.min_improvement_micro <= best_loss_micro:
        return Progress(loss_micro, 0, False)
    stale = stale_rounds + 1
    return Progress(best_loss_micro, stale, spec.patience_rounds > 0 and stale >= spec.patience_rounds)
