"""Shared miner fixtures: the protocol's (tests/pot/conftest.py), a round job and an honest round."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.core import crypto
from app.core.blobstore import BlobStore
from app.core.types import TaskSpec
from app.miner import demo
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.recompute import CheckpointRecomputer
from app.miner.resume import ResumeDir
from app.net.protocols import Providers
from app.node.blob_serving import read_or_recompute
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split
from tests.pot import conftest as _pot

# The protocol's fixtures and helpers (tests/pot/conftest.py), which the miner's tests use too.
ANCHOR, CHAIN, CPU, TASK_ID, verifier_for = _pot.ANCHOR, _pot.CHAIN, _pot.CPU, _pot.TASK_ID, _pot.verifier_for
_one_thread, spec, store, data, validation, keys = (
    _pot._one_thread,
    _pot.spec,
    _pot.store,
    _pot.data,
    _pot.validation,
    _pot.keys,
)


def make_job(spec: TaskSpec, round_number: int = 0, base: bytes | None = None) -> RoundJob:
    return RoundJob(CHAIN, TASK_ID, spec, round_number, ANCHOR, base or spec.initial_checkpoint)


@pytest.fixture()
def mine(store: MemoryBlobStore, data: Split, tmp_path: Path) -> Callable[..., RoundOutput]:
    """Train one honest round: mine(spec, key, round_number=0, base=None, data=None)."""

    def run(
        spec: TaskSpec,
        key: crypto.SigningKey,
        round_number: int = 0,
        base: bytes | None = None,
        on: Split | None = None,
    ) -> RoundOutput:
        out = train_round(
            make_job(spec, round_number, base),
            key,
            store,
            on or data,
            device=CPU,
            resume=ResumeDir(tmp_path / key.public_key.hex()[:8]),
        )
        assert isinstance(out, RoundOutput)
        return out

    return run


SEGMENTS = 16  # `long_spec`'s segments a round: enough for challenges to land far apart


@pytest.fixture()
def long_spec() -> TaskSpec:
    """The digits task with 16 segments of 2 steps a round."""
    return demo.task_spec(local_steps=2 * SEGMENTS, checkpoint_interval=2, batch_size=32)


def sparse_round_on_disk(
    spec: TaskSpec, data: Split, key: crypto.SigningKey, folder: Path
) -> tuple[BlobStore, RoundOutput, Path]:
    """An honest round on a disk blob store that kept only its base and end checkpoints (as a large
    model's does): the store, the output, and the resume folder its sparse record is under."""
    blobs = BlobStore(folder / "blobs")
    demo.seed_blobs(blobs, spec)
    resume = folder / "resume"
    out = train_round(make_job(spec), key, blobs, data, device=CPU, resume=ResumeDir(resume), keep_every=False)
    assert isinstance(out, RoundOutput)
    return blobs, out, resume


def miner_first(blobs: BlobStore, recompute: CheckpointRecomputer) -> Callable[[int], Providers]:
    """A swarm's providers whose host 0 is the miner: it serves its blobs, re-computing the ones it dropped."""

    def providers(i: int) -> Providers:
        if i == 0:
            return Providers(blob=lambda d, offset, n: read_or_recompute(blobs, recompute, d, offset, n))
        return Providers()

    return providers
