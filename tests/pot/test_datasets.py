"""Shards, manifests and the seeded data order."""

from __future__ import annotations

import pytest
import torch

from app.core.errors import InvalidReceipt
from app.pot.blobs import MemoryBlobStore
from app.pot.datasets import DatasetManifest, batch_indices, load_dataset, load_split, parse_shard, round_seed
from app.pot.tensors import encode_tensors

SEED = bytes(range(32))


def test_batch_indices_are_deterministic_in_range_and_depend_on_seed_and_step() -> None:
    a = batch_indices(SEED, 3, 64, 1500)
    assert torch.equal(a, batch_indices(SEED, 3, 64, 1500))
    assert a.dtype == torch.int64 and int(a.min()) >= 0 and int(a.max()) < 1500
    assert not torch.equal(a, batch_indices(SEED, 4, 64, 1500))
    assert not torch.equal(a, batch_indices(bytes(32), 3, 64, 1500))


def test_batch_indices_vector() -> None:
    """A fixed vector, so any other implementation of the spec can check itself against this one."""
    assert batch_indices(SEED, 0, 4, 1000).tolist() == [
        int.from_bytes(__import__("hashlib").shake_256(SEED + bytes(8)).digest(32)[i : i + 8], "big") % 1000
        for i in range(0, 32, 8)
    ]


def test_round_seed_binds_anchor_miner_task_and_round() -> None:
    base = round_seed(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 0)
    others = [
        round_seed(b"\x09" * 32, b"\x02" * 32, b"\x03" * 32, 0),
        round_seed(b"\x01" * 32, b"\x09" * 32, b"\x03" * 32, 0),
        round_seed(b"\x01" * 32, b"\x02" * 32, b"\x09" * 32, 0),
        round_seed(b"\x01" * 32, b"\x02" * 32, b"\x03" * 32, 1),
    ]
    assert len({base, *others}) == 5
    with pytest.raises(ValueError):
        round_seed(b"short", b"\x02" * 32, b"\x03" * 32, 0)


def _shard(n: int, shape: tuple[int, ...] = (8, 8)) -> bytes:
    return encode_tensors(
        {"inputs": torch.zeros(n, *shape, dtype=torch.uint8), "targets": torch.ones(n, dtype=torch.uint8)}
    )


def test_dataset_loads_only_under_its_root() -> None:
    store = MemoryBlobStore()
    hashes = (store.put(_shard(3)), store.put(_shard(4)))
    manifest = DatasetManifest(name="t", shards=hashes)
    assert len(load_dataset(store, manifest, manifest.root)) == 7
    with pytest.raises(InvalidReceipt) as exc:
        load_dataset(store, manifest, bytes(32))
    assert exc.value.reason == "dataset-mismatch"
    assert DatasetManifest.decode(manifest.encode()) == manifest


@pytest.mark.parametrize(
    "tensors",
    [
        {"inputs": torch.zeros(2, 3, dtype=torch.uint8)},
        {"inputs": torch.zeros(2, 3, dtype=torch.uint8), "targets": torch.zeros(3, dtype=torch.uint8)},
        {"inputs": torch.zeros(2, 3), "targets": torch.zeros(2, dtype=torch.uint8)},
        {"inputs": torch.zeros(0, 3, dtype=torch.uint8), "targets": torch.zeros(0, dtype=torch.uint8)},
    ],
)
def test_bad_shard_layouts_are_malformed(tensors) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidReceipt) as exc:
        parse_shard(encode_tensors(tensors))
    assert exc.value.reason == "malformed-blob"


def test_shards_must_agree_on_sample_shape_and_exist() -> None:
    store = MemoryBlobStore()
    hashes = [store.put(_shard(2, (8, 8))), store.put(_shard(2, (4,)))]
    with pytest.raises(InvalidReceipt):
        load_split(store, hashes)
    with pytest.raises(InvalidReceipt) as exc:
        load_split(store, [bytes(32)])
    assert exc.value.reason == "blob-missing"


def test_segment_indices_are_the_per_step_batches_stacked() -> None:
    from app.pot.datasets import segment_indices

    seg = segment_indices(SEED, 5, 9, 16, 300)
    assert seg.shape == (4, 16)
    for row, step in zip(seg, range(5, 9)):
        assert torch.equal(row, batch_indices(SEED, step, 16, 300))
    with pytest.raises(ValueError):
        segment_indices(SEED, 3, 3, 16, 300)
