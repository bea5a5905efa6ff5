"""Device configuration labels: what a receipt commits to, and when a verifier can replay it exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from app.miner.loop import RoundOutput, train_round
from app.miner.resume import ResumeDir
from app.pot import config

from .conftest import CPU, make_job, verifier_for


def test_label_round_trips_and_bad_labels_are_refused() -> None:
    here = config.current(CPU)
    assert here.committed and config.parse(here.label()) == here
    assert config.parse("cuda") == config.DeviceConfig("cuda") and not config.parse("cuda").committed
    for bad in (
        "tpu",
        "cpu|2.1|AVX2|t0|det",
        "cpu|2.1|AVX2|2|det",
        "cpu||AVX2|t1|det",
        "cpu|2.1|AVX2|t1|maybe",
        "x" * 65,
        "cpu|a|b",
    ):
        with pytest.raises(config.BadDeviceConfig):
            config.parse(bad)


def test_only_the_same_cpu_build_and_kernels_is_reproducible_whatever_the_thread_count() -> None:
    mine = config.DeviceConfig("cpu", "2.13.0+cpu", "AVX2", 1, True)
    assert config.reproducible(mine, mine.__class__("cpu", "2.13.0+cpu", "AVX2", 7, True))
    assert not config.reproducible(mine, config.DeviceConfig("cpu", "2.12.0+cpu", "AVX2", 1, True))
    assert not config.reproducible(mine, config.DeviceConfig("cpu", "2.13.0+cpu", "AVX512", 1, True))
    assert not config.reproducible(mine, config.DeviceConfig("cpu"))  # a bare class vouches for nothing
    assert not config.reproducible(mine, config.DeviceConfig("cuda", "2.13.0+cu124", "sm90", 0, True))


def test_replaying_sets_the_receipts_thread_count_and_restores_ours() -> None:
    before = torch.get_num_threads()
    with config.replaying(config.DeviceConfig("cpu", "b", "k", before + 1, True)):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before


def test_round_resumed_with_another_thread_count_commits_only_its_class_and_still_verifies(
    spec, store, data, keys, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    resume = ResumeDir(tmp_path / "r")
    steps = iter(range(100))
    assert not isinstance(
        train_round(
            make_job(spec), keys[0], store, data, device=CPU, resume=resume, should_pause=lambda: next(steps) == 5
        ),
        RoundOutput,
    )
    torch.set_num_threads(2)
    try:
        out = train_round(make_job(spec), keys[0], store, data, device=CPU, resume=resume)
    finally:
        torch.set_num_threads(1)
    assert isinstance(out, RoundOutput) and out.receipt.device_class == "cpu"
    assert verifier_for(spec, store, data).verify(out.receipt, out.trace, segments=[0, 1, 2]).accepted
