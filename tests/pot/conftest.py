"""Shared protocol fixtures: a small real digits task, a seeded blob store, keys and a verifier.

The miner's tests (tests/miner) use them too, and add a round job and an honest round trained by the
miner's loop (tests/miner/conftest.py).
"""

from __future__ import annotations

import pytest
import torch

from app.core import crypto
from app.core.types import TaskSpec
from app.miner import demo
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import Split, load_dataset, load_split
from app.pot.verify import TaskView, Verifier

CHAIN = "pot-devnet"
TASK_ID = bytes(range(32))
ANCHOR = bytes([7]) * 32
CPU = torch.device("cpu")


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # the CI box has 2 cores shared by everything else


@pytest.fixture(scope="session")
def spec() -> TaskSpec:
    """The digits MLP with a short round: 12 steps, a checkpoint every 4 (3 segments)."""
    return demo.task_spec(local_steps=12, checkpoint_interval=4, batch_size=32)


@pytest.fixture()
def store(spec: TaskSpec) -> MemoryBlobStore:
    s = MemoryBlobStore()
    demo.seed_blobs(s, spec)
    return s


@pytest.fixture(scope="session")
def data(spec: TaskSpec) -> Split:
    s = MemoryBlobStore()
    demo.seed_blobs(s, spec)
    return load_dataset(s, demo.manifest_for_root(spec.dataset_root), spec.dataset_root)


@pytest.fixture(scope="session")
def validation(spec: TaskSpec) -> Split:
    s = MemoryBlobStore()
    demo.seed_blobs(s, spec)
    return load_split(s, [spec.validation_shard])


@pytest.fixture(scope="session")
def keys() -> list[crypto.SigningKey]:
    return [crypto.SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(5)]


def verifier_for(spec: TaskSpec, store: MemoryBlobStore, data: Split, **view: object) -> Verifier:
    fields: dict[str, object] = {
        "spec": spec,
        "current_round": 0,
        "current_checkpoint": spec.initial_checkpoint,
        "anchor_block_hash": ANCHOR,
    }
    fields.update(view)
    return Verifier(CHAIN, {TASK_ID: TaskView(**fields)}, store, lambda _spec: data, CPU)  # type: ignore[arg-type]
