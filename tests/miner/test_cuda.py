"""The CUDA path: a round trained on a GPU, and its segments replayed across CPU and CUDA.

Runs only where `torch.cuda.is_available()` (scripts/gpu_check.sh runs it on a GPU machine); the CPU
suite skips it. A receipt trained on CUDA commits a `cuda|...` configuration that no CPU verifier
reproduces, so a CPU verifier compares it per tensor within the measured cross-device bounds
(app.pot.tolerance); a CUDA verifier checks a CPU receipt the same way.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.core import crypto
from app.miner.loop import RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot import config
from app.pot.verify import TaskView, Verifier

from .conftest import ANCHOR, CHAIN, TASK_ID, make_job

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def _train(spec, store, data, device: torch.device, tmp: Path, seed: int) -> RoundOutput:  # type: ignore[no-untyped-def]
    out = train_round(
        make_job(spec),
        crypto.SigningKey.from_seed(bytes([seed]) * 32),
        store,
        data,
        device=device,
        resume=ResumeDir(tmp / str(seed)),
    )
    assert isinstance(out, RoundOutput)
    return out


def _verifier(spec, store, data, device: torch.device) -> Verifier:  # type: ignore[no-untyped-def]
    view = {TASK_ID: TaskView(spec, 0, spec.initial_checkpoint, ANCHOR)}
    return Verifier(CHAIN, view, store, lambda _s: data, device)


def test_a_round_trained_on_cuda_commits_its_configuration_and_moves_the_model(spec, store, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _train(spec, store, data.to(CUDA), CUDA, tmp_path, 90)
    declared = config.parse(out.receipt.device_class)
    assert declared.device_class == "cuda" and declared.kernels.startswith("sm")
    assert out.receipt.steps == spec.local_steps and out.update_hash != spec.initial_checkpoint


def test_a_cpu_verifier_accepts_every_segment_of_a_cuda_round(spec, store, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _train(spec, store, data.to(CUDA), CUDA, tmp_path, 91)
    v = _verifier(spec, store, data, CPU)
    n = len(out.trace.checkpoints) - 1
    for j in range(n):
        verdict = v.verify_segment(out.receipt, out.trace, j)
        assert verdict.accepted, verdict
    assert v.verify(out.receipt, out.trace).accepted


def test_a_cuda_verifier_accepts_a_cpu_round(spec, store, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = _train(spec, store, data, CPU, tmp_path, 92)
    v = _verifier(spec, store, data, CUDA)
    verdict = v.verify(out.receipt, out.trace, segments=list(range(len(out.trace.checkpoints) - 1)))
    assert verdict.accepted, verdict
