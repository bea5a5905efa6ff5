"""A miner that dropped checkpoints serves them when challenged: "pending" while it re-computes, then the
exact bytes. Two cheats are stopped: a miner that answers "pending" for ever (the verifier gives up and the
blob counts as withheld) and a miner whose record names a checkpoint it never trained (the replay does not
reproduce it, so it is never served).

Real training (the digits task), a real disk blob store, real libp2p hosts for the fetch.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import trio

from app.core.blobstore import BlobStore
from app.core.hashing import blob_hash
from app.miner import demo
from app.miner.loop import RoundOutput, train_round
from app.miner.recompute import CheckpointRecomputer
from app.miner.resume import ResumeDir
from app.miner.sparse_record import SUFFIX, SparseRound, record_sparse_round, sparse_dir
from app.net.errors import BlobPending, BlobUnavailable
from app.net.protocols import Providers
from app.node.blob_serving import read_or_recompute
from tests.net.netutil import swarm

from .conftest import CPU, make_job, miner_first


@pytest.fixture()
def sparse(spec, data, keys, tmp_path):  # type: ignore[no-untyped-def]
    """A finished round on a disk store that kept only its base and end checkpoints."""
    blobs = BlobStore(tmp_path / "miner" / "blobs")
    demo.seed_blobs(blobs, spec)
    resume = tmp_path / "miner" / "resume"
    out = train_round(make_job(spec), keys[0], blobs, data, device=CPU, resume=ResumeDir(resume), keep_every=False)
    assert isinstance(out, RoundOutput)
    return blobs, out, resume


def _wait(predicate, timeout_s: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_sparse_round_records_what_re_computing_takes(sparse, spec) -> None:  # type: ignore[no-untyped-def]
    blobs, out, resume = sparse
    path = sparse_dir(resume) / (out.receipt.commitments_root.hex() + SUFFIX)
    record = SparseRound.decode(path.read_bytes())
    assert record.state.checkpoints == out.trace.checkpoints
    assert record.spec == spec
    assert record.device_class == out.receipt.device_class
    assert [blobs.has(c) for c in out.trace.checkpoints] == [True, False, False, True]


def test_a_dropped_checkpoint_is_pending_then_served_exactly(sparse, spec, data) -> None:  # type: ignore[no-untyped-def]
    blobs, out, resume = sparse
    recompute = CheckpointRecomputer(sparse_dir(resume), blobs, lambda s: data)
    try:
        missing = out.trace.checkpoints[2]
        assert read_or_recompute(blobs, recompute, bytes(32), 0, 10) is None  # not ours: "not found"
        with pytest.raises(BlobPending):
            read_or_recompute(blobs, recompute, missing, 0, 10)
        _wait(lambda: recompute.done == 1)  # one replay, counted once it has stored the blob
        total, head = read_or_recompute(blobs, recompute, missing, 0, 10) or (0, b"")
        assert blob_hash(blobs.get(missing)) == missing and head == blobs.get(missing)[:10] and total > 10
    finally:
        recompute.close()


def test_a_checkpoint_the_miner_never_trained_is_never_served(sparse, spec, data) -> None:  # type: ignore[no-untyped-def]
    """The cheat: a lazy miner commits a made-up hash for segment 2's end and hopes "pending" buys time."""
    blobs, out, resume = sparse
    made_up = blob_hash(b"a checkpoint nobody trained")
    honest = SparseRound.decode(next(sparse_dir(resume).glob("*" + SUFFIX)).read_bytes())
    forged = list(honest.state.checkpoints)
    forged[2] = made_up
    record_sparse_round(resume, bytes(32), SparseRound(honest.state.replace(checkpoints=tuple(forged)), spec, ""))
    recompute = CheckpointRecomputer(sparse_dir(resume), blobs, lambda s: data)
    try:
        assert recompute.pending(made_up) is not None  # asked once: the replay runs...
        _wait(lambda: recompute.pending(made_up) is None)  # ...does not reproduce it: "not found" from then on
        assert not blobs.has(made_up)
    finally:
        recompute.close()


def test_a_verifier_fetches_a_re_computed_checkpoint_from_a_real_peer(sparse, data, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blobs, out, resume = sparse
    recompute = CheckpointRecomputer(sparse_dir(resume), blobs, lambda s: data)
    missing = out.trace.checkpoints[1]

    async def main() -> bytes:
        async with swarm(tmp_path / "net", 2, providers=miner_first(blobs, recompute)) as (miner, verifier):
            return await verifier.fetch_blob(missing, peers=[miner.peer_id])

    try:
        assert blob_hash(trio.run(main)) == missing
    finally:
        recompute.close()


def test_a_miner_answering_pending_for_ever_is_withholding(tmp_path: Path) -> None:
    """The cheat: stall every challenge with "pending". The verifier asks again only within its bound."""

    def stalling(digest: bytes, offset: int, n: int) -> tuple[int, bytes] | None:
        raise BlobPending(2.0)

    async def main() -> float:
        async with swarm(
            tmp_path,
            2,
            providers=lambda i: Providers(blob=stalling) if i == 0 else Providers(),
            configure=lambda i: {"max_pending_wait_s": 3.0},
        ) as (miner, verifier):
            started = trio.current_time()
            with pytest.raises(BlobUnavailable, match="pending"):
                await verifier.fetch_blob(bytes(32), peers=[miner.peer_id])
            return trio.current_time() - started

    assert trio.run(main) < 30.0
