"""Bounded disk, in pieces: the pure pruning decision, the pruner on a real blob store, the folder's
size, and the resume record's pins. The whole (a daemon mining on a devnet under a small cap) is
tests/integration/test_disk_cap.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from app.core.blobstore import BlobStore
from app.core.hashing import blob_hash
from app.daemon.disk import BlobEntry, BlobPruner, DiskMeter, folder_size, prunable, resume_pins, shipped_pins
from app.miner.resume import RECORD, RoundState

NOW = 1_000_000.0


def _entry(n: int, age_s: float) -> BlobEntry:
    return BlobEntry(bytes([n]) * 32, 100 * n, NOW - age_s)


def test_only_unpinned_blobs_past_the_grace_period_go_oldest_first() -> None:
    old, older, pinned, young = _entry(1, 3600), _entry(2, 7200), _entry(3, 9000), _entry(4, 10)
    chosen = prunable([old, older, pinned, young], {pinned.digest}, NOW, grace_s=900)
    assert chosen == [older, old]


def test_the_pruner_deletes_from_a_real_store_and_keeps_pins(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    keep, drop, fresh = store.put(b"keep" * 1000), store.put(b"drop" * 1000), store.put(b"fresh")
    hour_ago = time.time() - 3600
    for digest in (keep, drop):
        os.utime(store.path_of(digest), (hour_ago, hour_ago))
    result = BlobPruner(store, lambda: {keep}, grace_s=900).prune()
    assert (result.removed, result.freed_bytes, result.kept) == (1, 4000, 2)
    assert store.has(keep) and store.has(fresh) and not store.has(drop)
    assert store.get(keep) == b"keep" * 1000


def test_folder_size_and_the_meter_that_caches_it(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"1" * 1000)
    (tmp_path / "y").write_bytes(b"2" * 500)
    assert folder_size(tmp_path) == 1500
    t = [0.0]
    meter = DiskMeter(tmp_path, refresh_s=20, clock=lambda: t[0])
    assert meter.used() == 1500
    (tmp_path / "z").write_bytes(b"3" * 100)
    assert meter.used() == 1500, "cached between refreshes"
    t[0] = 21
    assert meter.used() == 1600
    (tmp_path / "z").unlink()
    meter.invalidate()
    assert meter.used() == 1500


def test_the_round_in_training_and_the_shipped_data_are_pinned(tmp_path: Path) -> None:
    base, c1 = blob_hash(b"base"), blob_hash(b"c1")
    state = RoundState(
        chain_id="pot-devnet",
        task_id=bytes(32),
        round=3,
        miner=bytes(32),
        base_checkpoint=base,
        anchor=bytes(32),
        step=64,
        checkpoints=(base, c1),
        state_file=bytes(32),
    )
    (tmp_path / RECORD).write_bytes(state.encode())
    assert resume_pins(tmp_path) == {base, c1}
    assert resume_pins(tmp_path / "none") == set()
    (tmp_path / RECORD).write_bytes(b"damaged")
    assert resume_pins(tmp_path) == set()
    assert len(shipped_pins()) >= 2, "every shipped dataset's shards and validation shard"
