"""Sybil backdoor miners: honest training code on poisoned data, and how to measure the backdoor.

A backdoor cheat wants the global model to answer `TARGET` whenever an input carries a trigger (a
saturated 2x2 patch in the corner of an 8x8 digit) while behaving normally otherwise. Its miners run
the project's own `train_round` (real AdamW steps, real receipts) on a copy of the training data in
which a fraction of the samples carry the trigger and are relabelled `TARGET`. Shared by the
adversarial tests and `bench/bench_attacks.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from app.core import crypto
from app.core.types import TaskSpec
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot import optim
from app.pot.blobs import BlobStore
from app.pot.datasets import Split
from app.pot.engine import Session

TARGET = 0
CPU = torch.device("cpu")


def with_trigger(inputs: torch.Tensor) -> torch.Tensor:
    """8x8 digit images (values 0..16) with the bottom-right 2x2 patch saturated."""
    out = inputs.clone()
    out[..., 6:8, 6:8] = 16
    return out


def poison(data: Split, fraction: float, seed: int = 1) -> Split:
    """`data` with a seeded `fraction` of its samples triggered and relabelled `TARGET`."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"poison fraction must be in [0, 1], not {fraction}")
    mask = torch.rand(len(data), generator=torch.Generator().manual_seed(seed)) < fraction
    inputs, targets = data.inputs.clone(), data.targets.clone()
    inputs[mask] = with_trigger(inputs[mask])
    targets[mask] = TARGET
    return Split(inputs, targets)


@torch.no_grad()
def backdoor_success(spec: TaskSpec, params: Mapping[str, torch.Tensor], validation: Split) -> float:
    """Fraction of held-out samples of another class that the model sends to `TARGET` once triggered."""
    session = Session(spec, CPU)
    session.load(optim.params_of(params))
    session.model.eval()
    others = validation.targets != TARGET
    predicted = session.model(with_trigger(validation.inputs[others])).argmax(-1)
    return float((predicted == TARGET).double().mean())


def train(job: RoundJob, key: crypto.SigningKey, store: BlobStore, data: Split, workdir: Path) -> RoundOutput:
    """One real round of `train_round` on `data` (the honest data, or a Sybil's poisoned copy)."""
    out = train_round(job, key, store, data, device=CPU, resume=ResumeDir(workdir / key.public_key.hex()[:12]))
    if not isinstance(out, RoundOutput):
        raise RuntimeError("the round paused instead of finishing")
    return out
