"""Shared miner fixtures: the protocol's (tests/pot/conftest.py), a round job and an honest round."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.core import crypto
from app.core.types import TaskSpec
from app.miner.loop import RoundJob, RoundOutput, train_round
from app.miner.resume import ResumeDir
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
