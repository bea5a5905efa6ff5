"""The miner reads blobs only through `fetch_verified`, against the node's real disk store too."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.blobstore import BlobStore
from app.core.errors import InvalidReceipt
from app.miner import demo
from app.pot.blobs import MemoryBlobStore, fetch_verified

from .conftest import CPU, make_job, verifier_for


def test_missing_and_mismatching_blobs_have_their_reasons(tmp_path: Path) -> None:
    mem = MemoryBlobStore()
    digest = mem.put(b"checkpoint")
    assert fetch_verified(mem, digest, "x") == b"checkpoint"
    mem.corrupt(digest, b"other")
    with pytest.raises(InvalidReceipt, match="blob-hash-mismatch"):
        fetch_verified(mem, digest, "x")
    disk = BlobStore(tmp_path / "blobs")
    with pytest.raises(InvalidReceipt, match="blob-missing"):
        fetch_verified(disk, digest, "x")
    good = disk.put(b"checkpoint")
    disk.path_of(good).write_bytes(b"bit rot")
    with pytest.raises(InvalidReceipt, match="blob-hash-mismatch"):
        fetch_verified(disk, good, "x")


def test_a_round_mined_and_verified_on_the_disk_store(spec, data, keys, tmp_path: Path) -> None:
    from app.miner.loop import RoundOutput, train_round
    from app.miner.resume import ResumeDir

    disk = BlobStore(tmp_path / "blobs")
    demo.seed_blobs(disk, spec)
    out = train_round(make_job(spec), keys[0], disk, data, device=CPU, resume=ResumeDir(tmp_path / "resume"))
    assert isinstance(out, RoundOutput)
    verdict = verifier_for(spec, disk, data).verify(out.receipt, out.trace, segments=[0, 1, 2])  # type: ignore[arg-type]
    assert verdict.accepted, verdict
