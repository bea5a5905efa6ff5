"""Robust aggregation of verified updates into the next global checkpoint W_{r+1}.

Each update is first clipped to `clip_multiple` times the median update norm (a single huge update
cannot drag the model), then the coordinate-wise trimmed mean drops the `floor(trim_fraction * n)`
largest and smallest values of every coordinate. W_{r+1} = W_r + that mean (DiLoCo's outer step with
learning rate 1).

Before that, every update is scored on the task's held-out split (`app.pot.usefulness`): one that
raises the held-out loss beyond honest noise is left out of the mean, and if the mean of the others
still does, the round's checkpoint stays W_r. The receipts are still the round's (they were verified
and are paid); `Aggregate.left_out` names the ones whose update was not applied.

The result must be the same bytes on every committee member, so every step is bit-reproducible on any
CPU: norms are exact sums (`math.fsum` over float64 squares of float32 values, which are exact), and
the mean is a sequential elementwise sum over the sorted values in receipt-id order, never a
threaded reduction. Only the validation loss (reported in micro-units) may differ in its last digits
between machines; docs/PROTOCOL.md, Part 4 says how a block checks it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from app.core.types import RoundResult, TaskSpec, WorkReceipt
from app.pot.blobs import BlobStore, fetch_verified
from app.pot.datasets import Split
from app.pot.engine import evaluate
from app.pot.proof import loss_micro
from app.pot.tensors import decode_tensors, encode_tensors
from app.pot.usefulness import DEFAULT_RULE, Score, UsefulnessRule, paired_score, sample_losses, score_update

TRIM_FRACTION = 0.2
CLIP_MULTIPLE = 2.0

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Aggregate:
    """The new checkpoint blob, its hash and validation loss, and the round's result record.

    `scores`: each receipt's held-out score (receipt id, score), in receipt-id order, empty when no
    rule was applied; `left_out`: receipts whose update was not useful; `kept_base`: the mean of the
    useful updates was itself not useful, so the checkpoint is the base.
    """

    checkpoint: bytes
    checkpoint_hash: bytes
    validation_loss: float
    result: RoundResult
    scores: tuple[tuple[bytes, Score], ...] = ()
    left_out: tuple[bytes, ...] = ()
    kept_base: bool = False


def exact_norm(t: Tensors) -> float:
    """L2 norm with a correctly rounded sum: the same float on every machine."""
    return math.sqrt(math.fsum(math.fsum((v.double().numpy().ravel() ** 2).tolist()) for _, v in sorted(t.items())))


def clip(update: Tensors, max_norm: float) -> Tensors:
    norm = exact_norm(update)
    if norm <= max_norm or norm == 0:
        return update
    scale = torch.tensor(max_norm / norm, dtype=torch.float32)
    return {k: v * scale for k, v in update.items()}


def robust_mean(
    updates: Sequence[Tensors], trim_fraction: float = TRIM_FRACTION, clip_multiple: float = CLIP_MULTIPLE
) -> Tensors:
    """Norm-clipped, coordinate-wise trimmed mean of same-shaped updates (in the given order)."""
    if not updates:
        raise ValueError("nothing to aggregate")
    names = sorted(updates[0])
    for u in updates:
        if sorted(u) != names or any(u[n].shape != updates[0][n].shape for n in names):
            raise ValueError("updates do not share one architecture")
    norms = [exact_norm(u) for u in updates]
    max_norm = float(np.median(norms)) * clip_multiple
    clipped = [clip(u, max_norm) for u in updates]
    trim = int(trim_fraction * len(updates))
    kept = len(updates) - 2 * trim
    out: Tensors = {}
    for n in names:
        stacked = torch.stack([u[n] for u in clipped])
        values = torch.sort(stacked, dim=0).values[trim : trim + kept]  # sorted: the sum ignores input order
        acc = values[0].clone()
        for row in values[1:]:
            acc += row
        out[n] = acc / torch.tensor(float(kept), dtype=torch.float32)
    return out


def aggregate_round(
    *,
    task_id: bytes,
    round_number: int,
    spec: TaskSpec,
    base_checkpoint: bytes,
    verified: Sequence[WorkReceipt],
    store: BlobStore,
    validation: Split,
    device: torch.device | None = None,
    usefulness: UsefulnessRule | None = DEFAULT_RULE,
) -> Aggregate:
    """W_{r+1} from the receipts that passed verification (only those; the caller verified them).

    `usefulness`: the held-out rule that leaves out harmful updates (None: aggregate every update,
    for experiments that show what the rule prevents).
    """
    base = decode_tensors(fetch_verified(store, base_checkpoint, "base checkpoint"))
    ordered = sorted(verified, key=lambda r: r.receipt_id)
    for r in ordered:
        if r.task_id != task_id or r.round != round_number or r.base_checkpoint != base_checkpoint:
            raise ValueError("a receipt of another task, round or base cannot be aggregated")
    updates = [decode_tensors(fetch_verified(store, r.update_hash, "update")) for r in ordered]
    for u in updates:
        if set(u) != set(base):
            raise ValueError("updates do not match the base checkpoint's parameters")
    scores: list[tuple[bytes, Score]] = []
    kept = updates
    kept_base = False
    if usefulness is not None and ordered:
        base_losses = sample_losses(spec, base, validation)
        for r, u in zip(ordered, updates):
            scores.append((r.receipt_id, score_update(spec, base, u, validation, base_losses, usefulness)))
        kept = [u for u, (_, s) in zip(updates, scores) if s.useful]
    new = base
    if kept:
        mean = robust_mean(kept)
        candidate = {k: base[k] + mean[k] for k in sorted(base)}
        if (
            usefulness is not None
            and not paired_score(base_losses, sample_losses(spec, candidate, validation), usefulness).useful
        ):
            kept_base = True
        else:
            new = candidate
    else:
        kept_base = bool(ordered)
    blob = encode_tensors(new)
    digest = store.put(blob)
    loss = evaluate(spec, new, validation, device or torch.device("cpu"))
    result = RoundResult(
        task_id=task_id,
        round=round_number,
        new_checkpoint=digest,
        validation_loss_micro=loss_micro(loss),
        receipt_ids=tuple(r.receipt_id for r in ordered),
    )
    left_out = tuple(rid for rid, s in scores if not s.useful)
    return Aggregate(blob, digest, loss, result, tuple(scores), left_out, kept_base)
