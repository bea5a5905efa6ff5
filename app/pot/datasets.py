"""Datasets as content-addressed shards under a Merkle root, and the seeded data order.

A shard is a canonical safetensors blob with two uint8 tensors, `inputs` [N, ...] and `targets`
[N] or [N, T], same N. A dataset is the ordered list of its shard hashes; `TaskSpec.dataset_root` is
`merkle_root(shard hashes)`, so a node that fetched the list from anyone checks it against the task.

The data order of a round is drawn from `seed = H_seed(anchor block hash || miner key || task id ||
round)`: the batch of step `s` is the sample indices `u_i mod N`, where `u_0..u_{B-1}` are the
big-endian 64-bit words of `SHAKE-256(seed || s as 8 bytes)`. Each step's batch depends on the seed
and the step alone, so a verifier can replay any segment without replaying what came before, a
resumed miner continues exactly, and another key gets another order (work cannot be copied).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch

from app.core.encoding import Bytes32, MaxLen, Record, ShortText
from app.core.errors import InvalidReceipt
from app.core.hashing import DOMAIN_SEED, tagged_hash
from app.core.merkle import merkle_root
from app.pot.blobs import BlobStore, fetch_verified
from app.pot.tensors import REASON_MALFORMED, decode_tensors

MAX_SHARDS = 4096
SEED_LEN = 32


@dataclass(frozen=True)
class DatasetManifest(Record):
    """The ordered shard hashes of a dataset; its `root` is what a task names."""

    TAG = 70
    name: ShortText
    shards: Annotated[tuple[Bytes32, ...], MaxLen(MAX_SHARDS)]

    @property
    def root(self) -> bytes:
        return merkle_root(list(self.shards))


@dataclass(frozen=True)
class Split:
    """A loaded split: all its samples as tensors on one device."""

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return int(self.inputs.shape[0])

    def to(self, device: torch.device) -> "Split":
        return Split(self.inputs.to(device), self.targets.to(device))

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inputs.index_select(0, indices), self.targets.index_select(0, indices)


def parse_shard(data: bytes) -> Split:
    """A shard's tensors, checked for the shard layout; `InvalidReceipt("malformed-blob")` otherwise."""
    t = decode_tensors(data)
    if set(t) != {"inputs", "targets"}:
        raise InvalidReceipt(REASON_MALFORMED, f"a shard holds inputs and targets, not {sorted(t)}")
    x, y = t["inputs"], t["targets"]
    if x.dtype != torch.uint8 or y.dtype != torch.uint8 or x.ndim < 1 or y.ndim < 1:
        raise InvalidReceipt(REASON_MALFORMED, "shard tensors must be uint8 with a sample dimension")
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise InvalidReceipt(REASON_MALFORMED, "inputs and targets must have the same non-zero count")
    return Split(x, y)


def load_split(store: BlobStore, shard_hashes: Sequence[bytes]) -> Split:
    """Fetch, verify and concatenate shards (all must have one sample shape)."""
    parts = [parse_shard(fetch_verified(store, h, "dataset shard")) for h in shard_hashes]
    if not parts:
        raise InvalidReceipt(REASON_MALFORMED, "a dataset needs at least one shard")
    if len({(p.inputs.shape[1:], p.targets.shape[1:]) for p in parts}) != 1:
        raise InvalidReceipt(REASON_MALFORMED, "shards disagree on the sample shape")
    return Split(torch.cat([p.inputs for p in parts]), torch.cat([p.targets for p in parts]))


def load_dataset(store: BlobStore, manifest: DatasetManifest, expected_root: bytes) -> Split:
    """The training split named by a task, after checking the manifest against the task's root."""
    if manifest.root != expected_root:
        raise InvalidReceipt("dataset-mismatch", "the shard list does not hash to the task's dataset root")
    return load_split(store, manifest.shards)


def round_seed(anchor_block_hash: bytes, miner_key: bytes, task_id: bytes, round_number: int) -> bytes:
    """The seed of one miner's data order in one round (DESIGN.md, "Training")."""
    for name, value in (("anchor", anchor_block_hash), ("miner", miner_key), ("task", task_id)):
        if len(value) != 32:
            raise ValueError(f"{name} must be 32 bytes")
    return tagged_hash(DOMAIN_SEED, anchor_block_hash + miner_key + task_id + round_number.to_bytes(8, "big"))


def batch_indices(seed: bytes, step: int, batch_size: int, n_samples: int) -> torch.Tensor:
    """The sample indices of step `step` (0-based within the round); int64 on the CPU."""
    return segment_indices(seed, step, step + 1, batch_size, n_samples)[0]


def segment_indices(seed: bytes, start: int, stop: int, batch_size: int, n_samples: int) -> torch.Tensor:
    """The indices of steps `start..stop-1` as one [steps, batch] int64 tensor.

    One numpy pass over all the steps' words: drawing them per step between training steps costs
    several times more (measured in bench/bench_training.py's development) than in one burst.
    """
    if len(seed) != SEED_LEN or n_samples <= 0 or batch_size <= 0 or not 0 <= start < stop:
        raise ValueError("bad seed, steps, batch size or sample count")
    stream = b"".join(hashlib.shake_256(seed + s.to_bytes(8, "big")).digest(8 * batch_size) for s in range(start, stop))
    words = np.frombuffer(stream, dtype=">u8") % np.uint64(n_samples)
    return torch.from_numpy(words.astype(np.int64).reshape(stop - start, batch_size))
